// SPDX-License-Identifier: MIT
/*
 * The counter table (collector/snapshot.h) against every output: for each
 * counter, a snapshot where it alone is set must show that value in the
 * live header, the batch line, the DB's intervals row, a /metrics render
 * and the JSON counters line. An output that filters a counter away (or a
 * table line an output does not handle) fails here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "collector/snapshot.h"
#include "export/json_lines.h"
#include "export/prom.h"
#include "storage/schema.h"
#include "storage/store.h"
#include "tui/batch.h"
#include "tui/cellbuf.h"
#include "tui/screen.h"
#include "tui/view.h"
#include "tests/unit/unit_db.h"

#define T0 1714557600000ULL

/* A value no other header figure takes, below 1000 so no unit is added. */
static uint64_t value_of(size_t i)
{
	return 101 + 7 * (uint64_t)i;
}

/* An empty interval with counter i alone set. */
static struct snapshot *snapshot_with(size_t i, uint64_t ts_ms)
{
	struct snapshot *s = snapshot_new(0);
	assert_non_null(s);
	s->ts_ms = ts_ms;
	s->dur_ms = 1000;
	*snap_counter_ref(&s->c, i) = value_of(i);
	return s;
}

/* What fn writes for s, as a string (the caller frees it). */
static char *memstream_text(void (*fn)(FILE *, const struct snapshot *, void *),
			    const struct snapshot *s, void *ctx)
{
	static char *buf;
	static size_t len;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	fn(f, s, ctx);
	assert_int_equal(fclose(f), 0);
	char *out = buf;
	buf = NULL;
	return out;
}

static void expect_in(const char *text, const char *needle, const char *where, size_t i)
{
	if (!strstr(text, needle))
		fail_msg("%s: counter %s: \"%s\" not in:\n%s", where, snap_counter_defs[i].name,
			 needle, text);
}

/* ---- the table itself ---------------------------------------------------- */

static void test_table_is_whole(void **state)
{
	(void)state;
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++) {
		const struct snap_counter_def *d = &snap_counter_defs[i];
		assert_non_null(d->name);
		assert_non_null(d->label);
		assert_non_null(d->unit);
		assert_non_null(d->help);
		assert_true(!strncmp(d->metric, "l7top_", 6));
		size_t n = strlen(d->metric);
		bool total = n > 6 && !strcmp(d->metric + n - 6, "_total");
		assert_true(d->kind == SNAP_GAUGE ? !total : total);
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(d->name, snap_counter_defs[j].name);
			assert_string_not_equal(d->metric, snap_counter_defs[j].metric);
			/* a shared label sums neighbours only */
			if (!strcmp(d->label, snap_counter_defs[j].label))
				assert_string_equal(snap_counter_defs[i - 1].label, d->label);
		}
	}
	assert_int_equal(sizeof(struct snap_counters), SNAP_NCOUNTERS * sizeof(uint64_t));
}

static void test_delta_and_sum(void **state)
{
	struct snap_counters then = { 0 }, now = { 0 }, d, sum = { 0 };
	(void)state;

	for (size_t i = 0; i < SNAP_NCOUNTERS; i++) {
		*snap_counter_ref(&then, i) = 10;
		*snap_counter_ref(&now, i) = 10 + value_of(i);
	}
	snap_counters_delta(&d, &now, &then);
	snap_counters_add(&sum, &d);
	snap_counters_add(&sum, &d);
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++) {
		bool gauge = snap_counter_defs[i].kind == SNAP_GAUGE;
		assert_int_equal(snap_counter_get(&d, i), gauge ? 10 + value_of(i) : value_of(i));
		assert_int_equal(snap_counter_get(&sum, i),
				 gauge ? 10 + value_of(i) : 2 * value_of(i));
	}
}

/* ---- each output ------------------------------------------------------------- */

static void test_live_header(void **state)
{
	(void)state;
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++) {
		struct view v;
		struct cellbuf cb = { 0 };
		struct run_info h = { .target = "t", .npids = 1, .ports = "80" };
		struct snapshot *s = snapshot_with(i, T0);
		char want[64], text[4096] = "", row[1024];

		assert_int_equal(view_init(&v, 1000, 0), 0);
		assert_int_equal(view_push(&v, s, &h), 0);
		view_set_size(&v, 50, 300);
		assert_int_equal(screen_render(&v, 50, 300, &cb), 0);
		for (int r = 0; r < 5; r++) {
			strncat(text, cellbuf_line(&cb, r, row, sizeof(row)), sizeof(text) - strlen(text) - 2);
			strcat(text, "\n");
		}
		snprintf(want, sizeof(want), "%s %lu", snap_counter_defs[i].label,
			 (unsigned long)value_of(i));
		expect_in(text, want, "live header", i);
		cellbuf_free(&cb);
		view_free(&v);
		snapshot_free(s);
	}
}

static void write_batch(FILE *f, const struct snapshot *s, void *ctx)
{
	(void)ctx;
	batch_print(f, s, &(struct run_info){ .target = "t", .ports = "80" }, 0);
}

static void test_batch_line(void **state)
{
	(void)state;
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++) {
		struct snapshot *s = snapshot_with(i, T0);
		char *text = memstream_text(write_batch, s, NULL), want[64];
		*strchr(text, '\n') = '\0';            /* the header line only */
		snprintf(want, sizeof(want), " %s %lu", snap_counter_defs[i].label,
			 (unsigned long)value_of(i));
		expect_in(text, want, "batch line", i);
		free(text);
		snapshot_free(s);
	}
}

static void write_prom(FILE *f, const struct snapshot *s, void *ctx)
{
	struct prom *p = ctx;
	assert_int_equal(prom_update(p, s), 0);
	assert_int_equal(prom_render(p, f), 0);
}

static void test_metrics(void **state)
{
	(void)state;
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++) {
		struct prom_config cfg = { .version = "t" };
		struct prom *p;
		char err[256], want[160];
		struct snapshot *s = snapshot_with(i, T0);
		const struct snap_counter_def *d = &snap_counter_defs[i];

		assert_int_equal(prom_open(&p, &cfg, err, sizeof(err)), 0);
		char *text = memstream_text(write_prom, s, p);
		snprintf(want, sizeof(want), "\n%s %lu\n", d->metric, (unsigned long)value_of(i));
		expect_in(text, want, "/metrics", i);
		snprintf(want, sizeof(want), "# TYPE %s %s\n", d->metric,
			 d->kind == SNAP_GAUGE ? "gauge" : "counter");
		expect_in(text, want, "/metrics", i);
		free(text);
		prom_close(p);
		snapshot_free(s);
	}
}

static void write_json(FILE *f, const struct snapshot *s, void *ctx)
{
	(void)ctx;
	assert_int_equal(json_lines_write(f, s), 0);
}

static void test_json_line(void **state)
{
	(void)state;
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++) {
		struct snapshot *s = snapshot_with(i, T0);
		char *text = memstream_text(write_json, s, NULL);
		json_error_t je;
		json_t *o = json_loads(text, 0, &je);
		assert_non_null(o);
		json_t *c = json_object_get(o, "counters");
		assert_int_equal(json_object_size(c), SNAP_NCOUNTERS);
		json_t *v = json_object_get(c, snap_counter_defs[i].name);
		if (!json_is_integer(v) || json_integer_value(v) != (json_int_t)value_of(i))
			fail_msg("JSON: counter %s missing or wrong in %s", snap_counter_defs[i].name,
				 text);
		json_decref(o);
		free(text);
		snapshot_free(s);
	}
}

static struct store *store_open_ok(const char *path)
{
	static const struct run_info sess = { .cmdline = "t", .version = "test",
						    .started_ms = T0 };
	struct store *st = NULL;
	char err[256] = "";
	if (store_open(&st, path, &sess, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	return st;
}

/* One interval per counter, ts T0 + i s; each row holds its one value. */
static void check_db_rows(const char *path)
{
	struct store *st = store_open_ok(path);
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++)
		assert_int_equal(store_push(st, snapshot_with(i, T0 + 1000 * i)), 0);
	store_close(st, T0 + 60000);

	sqlite3 *db = db_open(path);
	for (size_t i = 0; i < SNAP_NCOUNTERS; i++)
		for (size_t j = 0; j < SNAP_NCOUNTERS; j++) {
			int64_t got = db_int(db, "SELECT coalesce(%s, -1) FROM intervals WHERE ts_ms = %llu"
					     " AND session_id = (SELECT max(id) FROM sessions)",
					     snap_counter_defs[j].name, (unsigned long long)(T0 + 1000 * i));
			if (got != (i == j ? (int64_t)value_of(i) : 0))
				fail_msg("DB: interval of %s: column %s = %lld",
					 snap_counter_defs[i].name, snap_counter_defs[j].name,
					 (long long)got);
		}
	sqlite3_close(db);
}

static void test_db_row(void **state)
{
	struct tmpdb t;
	(void)state;

	tmpdb_make(&t, "counters");
	check_db_rows(t.path);
	/* A DB from before a counter existed gets its column on the next open. */
	sqlite3 *db = db_open(t.path);
	db_exec(db, "DELETE FROM intervals; ALTER TABLE intervals DROP COLUMN tls_lost;"
		    " ALTER TABLE intervals DROP COLUMN conns_open");
	sqlite3_close(db);
	check_db_rows(t.path);
	tmpdb_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_is_whole),
		cmocka_unit_test(test_delta_and_sum),
		cmocka_unit_test(test_live_header),
		cmocka_unit_test(test_batch_line),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_json_line),
		cmocka_unit_test(test_db_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
