/*
 * odbc_probe: what a BI tool sees of cfeast through ODBC (unixODBC and the
 * psqlODBC driver, the one Tableau, Power BI and Excel use).  Used by
 * test/checks/odbc.sh.
 *
 *   odbc_probe CONNECTION-STRING SCHEMA
 *
 * Connects with SQLDriverConnect, then prints, tab-separated:
 *   table  NAME  TYPE  REMARKS           for each SQLTables row of SCHEMA
 *   column TABLE NAME  TYPE_NAME REMARKS for each SQLColumns row of those tables
 * and then runs each line of standard input as a query, printing its rows
 * ("row" and the values, \N for NULL).  Exit status 0 when every call
 * succeeded, 1 otherwise (with the driver's diagnostics on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sql.h>
#include <sqlext.h>

#define MAXTABLES 256
#define VAL 8192

static int
ok(SQLRETURN rc, SQLSMALLINT type, SQLHANDLE h, const char *what)
{
	SQLCHAR		state[6], msg[1024];
	SQLINTEGER	native;
	SQLSMALLINT len;

	if (SQL_SUCCEEDED(rc))
		return 1;
	fprintf(stderr, "odbc_probe: %s failed\n", what);
	for (SQLSMALLINT i = 1; SQLGetDiagRec(type, h, i, state, &native, msg, sizeof(msg), &len) == SQL_SUCCESS; i++)
		fprintf(stderr, "  %s: %s\n", state, msg);
	return 0;
}

/* column n of the current row as text; returns 0 for NULL */
static int
get_text(SQLHSTMT st, SQLUSMALLINT n, char *buf, size_t size)
{
	SQLLEN		ind;
	SQLRETURN	rc = SQLGetData(st, n, SQL_C_CHAR, buf, size, &ind);

	if (!SQL_SUCCEEDED(rc))
	{
		ok(rc, SQL_HANDLE_STMT, st, "SQLGetData");
		exit(1);
	}
	if (ind == SQL_NULL_DATA)
	{
		strcpy(buf, "\\N");
		return 0;
	}
	return 1;
}

int
main(int argc, char **argv)
{
	SQLHENV		env;
	SQLHDBC		dbc;
	SQLHSTMT	st;
	SQLCHAR		out[1024];
	SQLSMALLINT outlen;
	char		tables[MAXTABLES][256];
	int			ntables = 0;
	char		a[VAL], b[VAL], c[VAL], d[VAL];
	char		line[65536];

	if (argc != 3)
	{
		fprintf(stderr, "usage: odbc_probe CONNECTION-STRING SCHEMA\n");
		return 2;
	}
	SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env);
	SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (void *) SQL_OV_ODBC3, 0);
	SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc);
	if (!ok(SQLDriverConnect(dbc, NULL, (SQLCHAR *) argv[1], SQL_NTS, out, sizeof(out), &outlen,
							 SQL_DRIVER_NOPROMPT), SQL_HANDLE_DBC, dbc, "SQLDriverConnect"))
		return 1;

	/* the catalog: tables (views) of the schema, with their remarks */
	SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st);
	if (!ok(SQLTables(st, NULL, 0, (SQLCHAR *) argv[2], SQL_NTS, (SQLCHAR *) "%", SQL_NTS, NULL, 0),
			SQL_HANDLE_STMT, st, "SQLTables"))
		return 1;
	while (SQL_SUCCEEDED(SQLFetch(st)))
	{
		get_text(st, 3, a, sizeof(a));	/* TABLE_NAME */
		get_text(st, 4, b, sizeof(b));	/* TABLE_TYPE */
		get_text(st, 5, c, sizeof(c));	/* REMARKS */
		printf("table\t%s\t%s\t%s\n", a, b, c);
		if (ntables < MAXTABLES && strlen(a) < sizeof(tables[0]))
			memcpy(tables[ntables++], a, strlen(a) + 1);
	}
	SQLFreeHandle(SQL_HANDLE_STMT, st);

	/* their columns, with type names and remarks */
	for (int t = 0; t < ntables; t++)
	{
		SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st);
		if (!ok(SQLColumns(st, NULL, 0, (SQLCHAR *) argv[2], SQL_NTS, (SQLCHAR *) tables[t], SQL_NTS,
						   (SQLCHAR *) "%", SQL_NTS), SQL_HANDLE_STMT, st, "SQLColumns"))
			return 1;
		while (SQL_SUCCEEDED(SQLFetch(st)))
		{
			get_text(st, 4, a, sizeof(a));	/* COLUMN_NAME */
			get_text(st, 6, b, sizeof(b));	/* TYPE_NAME */
			get_text(st, 12, c, sizeof(c));	/* REMARKS */
			printf("column\t%s\t%s\t%s\t%s\n", tables[t], a, b, c);
		}
		SQLFreeHandle(SQL_HANDLE_STMT, st);
	}

	/* queries from standard input */
	while (fgets(line, sizeof(line), stdin))
	{
		SQLSMALLINT ncols;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st);
		if (!ok(SQLExecDirect(st, (SQLCHAR *) line, SQL_NTS), SQL_HANDLE_STMT, st, line))
			return 1;
		SQLNumResultCols(st, &ncols);
		while (SQL_SUCCEEDED(SQLFetch(st)))
		{
			fputs("row", stdout);
			for (SQLUSMALLINT i = 1; i <= ncols; i++)
			{
				get_text(st, i, d, sizeof(d));
				printf("\t%s", d);
			}
			putchar('\n');
		}
		SQLFreeHandle(SQL_HANDLE_STMT, st);
	}
	SQLDisconnect(dbc);
	SQLFreeHandle(SQL_HANDLE_DBC, dbc);
	SQLFreeHandle(SQL_HANDLE_ENV, env);
	return 0;
}
