/* xlsxsummary — the Summary sheet of the --xlsx workbook, written when it is closed: the
 * job (exit status, what to do next, its settings), every status with its count, the
 * channels sent and not sent (with a stacked bar chart), the rows' last HTTP statuses.
 * Each column as wide as its texts; long texts wrap in their cells. */
#ifndef OTTU_XLSXSUMMARY_H
#define OTTU_XLSXSUMMARY_H

#include "xlsxout.h"

/* Adds the sheet to x's workbook (end may be NULL: counts only). 0, or -1 with x's error set. */
int xlsxsummary_write(xlsxout *x, const xlsxout_end *end);

#endif
