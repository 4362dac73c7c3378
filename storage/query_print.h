/* SPDX-License-Identifier: MIT */
/*
 * query_print: `l7top query`'s output: csv (RFC 4180, libcsv) and json
 * (jansson) with every column, their keys a contract scripts may rely on;
 * a table for people, in the human units of format/units.h. Pure: rows in,
 * text to a FILE * out.
 */
#ifndef L7TOP_QUERY_PRINT_H
#define L7TOP_QUERY_PRINT_H

#include <stddef.h>
#include <stdio.h>

#include "format/row.h"
#include "storage/query_read.h"

enum query_format { QUERY_FMT_TABLE, QUERY_FMT_CSV, QUERY_FMT_JSON };

/* Print flags: which leading columns the csv/json/table output has. */
#define QUERY_COL_HOST 1u          /* "host" first */
#define QUERY_COL_TS   2u          /* "ts" (after host and protocol) */
#define QUERY_COL_PROTO 4u         /* "protocol" (after host) */
#define QUERY_COL_TARGET 8u        /* "target" (first) */

/* Writes rows in fmt (csv/json: every column; table: for people). 0 or -EIO. */
int query_print(FILE *f, const struct endpoint_row *rows, size_t n, enum query_format fmt);
/* The same with leading columns: QUERY_COL_HOST and/or QUERY_COL_TS. */
int query_print_rows(FILE *f, const struct endpoint_row *rows, size_t n, enum query_format fmt,
		     unsigned cols);
/* csv: ts,method,route,path,status,latency_ms,bytes_in,bytes_out,client,pid
 * (host first with QUERY_COL_HOST). 0 or -EIO. */
int query_print_requests(FILE *f, const struct query_req *r, size_t n, enum query_format fmt,
			 unsigned cols);
/* csv: id,start,end,target,pids,version,capture,settings,notes. 0 or -EIO. */
int query_print_sessions(FILE *f, const struct query_session *s, size_t n,
			 enum query_format fmt);

#endif
