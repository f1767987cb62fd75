#!/usr/bin/env bash
# newman-collection.sh BASE_URL — prints a Postman v2.1 collection with one request: the
# message-notification POST, its body taken from the data file's order_no and channels
# columns (newman -d FILE runs it once per row), and a test that the answer is 200.
set -eu
base="${1:?usage: newman-collection.sh BASE_URL}"
cat <<JSON
{
  "info": {
    "name": "ottu-resend bench",
    "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
  },
  "item": [
    {
      "name": "message-notification",
      "request": {
        "method": "POST",
        "header": [
          {"key": "Content-Type", "value": "application/json"},
          {"key": "Authorization", "value": "Api-Key {{api_key}}"}
        ],
        "body": {"mode": "raw", "raw": "{\"order_no\":\"{{order_no}}\",\"channels\":[\"{{channels}}\"]}"},
        "url": "${base}/b/pbl/v2/message-notification/"
      },
      "event": [
        {
          "listen": "test",
          "script": {"type": "text/javascript", "exec": ["pm.test('200', function () { pm.response.to.have.status(200); });"]}
        }
      ]
    }
  ]
}
JSON
