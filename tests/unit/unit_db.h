/* SPDX-License-Identifier: MIT */
/*
 * unit_db: what the unit tests that write a real DB file share: a temp
 * directory for it (removed with its -wal/-shm/-journal), and plain SQL on
 * a second connection to check what the store wrote. Include after
 * <cmocka.h>.
 */
#ifndef L7TOP_UNIT_DB_H
#define L7TOP_UNIT_DB_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

struct tmpdb {
	char dir[64];
	char path[96];
};

/* $TMP-like /tmp/l7top-NAME-XXXXXX/t.db (not created: the store does that). */
static inline void tmpdb_make(struct tmpdb *t, const char *name)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/l7top-%s-XXXXXX", name);
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/t.db", t->dir);
}

static inline void tmpdb_remove(struct tmpdb *t)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[128];
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", t->path, sfx[i]);
		unlink(p);
	}
	rmdir(t->dir);
}

static inline sqlite3 *db_open(const char *path)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* The one integer a query (printf-style) returns; fails the test otherwise. */
__attribute__((format(printf, 2, 3)))
static inline int64_t db_int(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL))
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_free(sql);
	return v;
}

static inline void db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg))
		fail_msg("%s: %s", sql, msg);
}

#endif
