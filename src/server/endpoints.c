/*-------------------------------------------------------------------------
 * endpoints.c
 *	  One handler per endpoint: check the body with jansson, call the cfeast
 *	  SQL function through the pool, turn the result or the PostgreSQL error
 *	  into Feast's response.
 *
 * The request body itself is what goes to PostgreSQL: push and read pass it
 * as one parameter and pick "df" / "entities" out of it in SQL, so the rows
 * are never re-encoded here.  A push picks "df" out as JSON text (json's
 * ->, which copies the text as sent) for feast_push's text form, which
 * parses it once into typed values; a read takes it as jsonb.  jansson parses the body once to
 * check its shape (a 422 in FastAPI's {"detail": [...]} form otherwise).
 *-------------------------------------------------------------------------
 */
#include "server.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reply_json(CfsReply *reply, int status, json_t *out);

/* the body's shape problems, in FastAPI's validation-error form */
typedef struct Check
{
	json_t	   *root;
	json_t	   *errors;
} Check;

static void
check_fail(Check *ck, const char *type, const char *field, const char *msg)
{
	json_array_append_new(ck->errors,
						  json_pack("{s:s, s:[s,s], s:s}", "type", type,
									"loc", "body", field, "msg", msg));
}

/* a field that must be present (required) or may be absent; NULL if absent/wrong */
static json_t *
field_get(Check *ck, const char *field, bool required)
{
	json_t	   *v = json_object_get(ck->root, field);

	if (v == NULL && required)
		check_fail(ck, "missing", field, "Field required");
	return v;
}

static const char *
field_string(Check *ck, const char *field, bool required, bool nullable)
{
	json_t	   *v = field_get(ck, field, required);

	if (v == NULL || (nullable && json_is_null(v)))
		return NULL;
	if (!json_is_string(v))
	{
		check_fail(ck, "string_type", field, "Input should be a valid string");
		return NULL;
	}
	return json_string_value(v);
}

static bool
field_bool(Check *ck, const char *field)
{
	json_t	   *v = field_get(ck, field, false);

	if (v == NULL)
		return false;
	if (!json_is_boolean(v))
		check_fail(ck, "bool_type", field, "Input should be a valid boolean");
	return json_is_true(v);
}

/* a dict (rows in column form); the row form [{...}, ...] is taken too */
static void
field_rows(Check *ck, const char *field, bool lists_only)
{
	json_t	   *v = field_get(ck, field, true);
	const char *k;
	json_t	   *col;

	if (v == NULL)
		return;
	if (json_is_array(v) && !lists_only)
		return;
	if (!json_is_object(v))
	{
		check_fail(ck, "dict_type", field, "Input should be a valid dictionary");
		return;
	}
	if (!lists_only)
		return;
	json_object_foreach(v, k, col)
	{
		if (!json_is_array(col))
		{
			check_fail(ck, "list_type", field, "Input should be a valid list");
			return;
		}
	}
}

/*
 * A list of strings as a PostgreSQL text[] literal (malloc'd), or NULL when
 * absent, null or not a list of strings.  *present: a list was given.
 */
static char *
field_text_array(Check *ck, const char *field, bool *present)
{
	json_t	   *v = field_get(ck, field, false);
	json_t	   *el;
	size_t		i,
				len = 3;
	char	   *lit,
			   *p;

	*present = false;
	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_array(v))
	{
		check_fail(ck, "list_type", field, "Input should be a valid list");
		return NULL;
	}
	json_array_foreach(v, i, el)
	{
		if (!json_is_string(el))
		{
			check_fail(ck, "string_type", field, "Input should be a valid string");
			return NULL;
		}
		len += 2 * json_string_length(el) + 3;
	}
	lit = p = malloc(len);
	if (lit == NULL)
		return NULL;
	*p++ = '{';
	json_array_foreach(v, i, el)
	{
		const char *s = json_string_value(el);

		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (; *s; s++)
		{
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	*present = true;
	return lit;
}

/* parse the body; false if it is not a JSON object (recorded for check_end) */
static bool
check_begin(Check *ck, const char *body, size_t len)
{
	json_error_t jerr;

	ck->errors = json_array();
	/* numbers as doubles: a too-big integer is PostgreSQL's to judge, not ours */
	ck->root = json_loadb(body, len, JSON_DECODE_INT_AS_REAL, &jerr);
	if (ck->root == NULL)
	{
		json_array_append_new(ck->errors,
							  json_pack("{s:s, s:[s,I], s:s, s:{s:s}}", "type", "json_invalid",
										"loc", "body", (json_int_t) jerr.position,
										"msg", "JSON decode error", "ctx", "error", jerr.text));
	}
	else if (!json_is_object(ck->root))
	{
		json_array_append_new(ck->errors,
							  json_pack("{s:s, s:[s], s:s}", "type", "model_attributes_type",
										"loc", "body",
										"msg", "Input should be a valid dictionary or object to extract fields from"));
	}
	if (json_array_size(ck->errors) == 0)
		return true;
	return false;
}

/* true if the body passed; otherwise the reply is the 422 */
static bool
check_end(Check *ck, CfsReply *reply)
{
	json_t	   *out;

	if (json_array_size(ck->errors) == 0)
		return true;
	out = json_pack("{s:O}", "detail", ck->errors);
	reply_json(reply, 422, out);
	return false;
}

static void
check_free(Check *ck)
{
	json_decref(ck->root);
	json_decref(ck->errors);
}

/*
 * SQLSTATE -> HTTP status, as Feast's server answers: an unknown push source
 * is 422, an unknown view/feature/service 404, no privilege 403, bad data
 * (class 22) 422, the database unreachable or the query cancelled (class
 * 57: shutdown, statement_timeout) 503, anything else 500.
 */
int
cfs_status_for(CfsEndpoint ep, const CfsError *err)
{
	const char *s = err->sqlstate;

	if (err->status)
		return err->status;
	if (strncmp(s, "08", 2) == 0 || strncmp(s, "57", 2) == 0)
		return 503;				/* unreachable, shutting down, or the query cancelled */
	if (strcmp(s, "42501") == 0)
		return 403;
	if (strcmp(s, "42704") == 0)
		return ep == CFS_EP_PUSH ? 422 : 404;
	if (strncmp(s, "22", 2) == 0)
		return 422;
	return 500;
}

/* length of the valid UTF-8 sequence at s, or 0 */
static int
utf8_seq(const unsigned char *s)
{
	int			n,
				i;

	if (s[0] < 0x80)
		return 1;
	else if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	/* no overlong forms, no surrogates, nothing past U+10FFFF */
	if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
		(s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
		return 0;
	return n;
}

/* a JSON string; bytes that are not UTF-8 become '?' so the reply is never lost */
static json_t *
jstr(const char *s)
{
	json_t	   *j = json_string(s);
	char	   *copy;
	size_t		i = 0;

	if (j)
		return j;
	copy = strdup(s);
	if (copy == NULL)
		return json_string("");
	while (copy[i])
	{
		int			n = utf8_seq((const unsigned char *) copy + i);

		if (n == 0)
		{
			copy[i] = '?';
			n = 1;
		}
		i += n;
	}
	j = json_string(copy);
	free(copy);
	return j ? j : json_string("");
}

static void
reply_json(CfsReply *reply, int status, json_t *out)
{
	reply->status = status;
	reply->body = json_dumps(out, JSON_COMPACT);
	reply->len = reply->body ? strlen(reply->body) : 0;
	json_decref(out);
}

/* {"detail": message, "sqlstate": ..., "errdetail": ..., "hint": ...} */
void
cfs_reply_error(CfsReply *reply, CfsEndpoint ep, CfsError *err)
{
	json_t	   *out = json_object();

	json_object_set_new(out, "detail", jstr(err->message ? err->message : ""));
	json_object_set_new(out, "sqlstate", jstr(err->sqlstate));
	if (err->detail)
		json_object_set_new(out, "errdetail", jstr(err->detail));
	if (err->hint)
		json_object_set_new(out, "hint", jstr(err->hint));
	snprintf(reply->sqlstate, sizeof(reply->sqlstate), "%s", err->sqlstate);
	reply_json(reply, cfs_status_for(ep, err), out);
	cfs_error_free(err);
}

/* {"detail": "..."} for errors of the server's own (404, 405, 413, ...) */
void
cfs_reply_detail(CfsReply *reply, int status, const char *fmt,...)
{
	va_list		ap;
	char		buf[512];
	json_t	   *out = json_object();

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_object_set_new(out, "detail", jstr(buf));
	reply_json(reply, status, out);
}

static void
reply_text(CfsReply *reply, int status, const char *text)
{
	reply->status = status;
	reply->body = strdup(text);
	reply->len = strlen(text);
}

/* run one statement on a pooled connection; NULL with reply set on error */
static PGresult *
run(CfsEndpoint ep, CfsStmt stmt, int n, const char *const *vals, CfsReply *reply)
{
	CfsError	err = {0};
	CfsConn    *c = stmt == CFS_STMT_HEALTH ? cfs_pool_acquire_health(&err) : cfs_pool_acquire(stmt, &err);
	PGresult   *res;

	if (c == NULL)
	{
		cfs_reply_error(reply, ep, &err);
		return NULL;
	}
	res = cfs_exec(c, stmt, n, vals, &err);
	cfs_pool_release(c);
	if (res == NULL)
		cfs_reply_error(reply, ep, &err);
	return res;
}

/* a bigint result: the body Feast sends (empty or null), the count in a header */
static void
reply_count(CfsReply *reply, PGresult *res, int col, const char *body)
{
	reply_text(reply, 200, body);
	reply->result = res;
	reply->rows = PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
}

/*
 * GET /api/v1/<path>?<query> and GET /projects-list.json: the registry REST
 * API that Feast's web UI reads (ui.c), answered by feast._registry_api:
 * its status and body as they are; a path it does not know is 404.
 */
void
cfs_handle_registry(const char *path, const char *query, CfsReply *reply)
{
	const char *vals[2] = {path, query ? query : "{}"};
	PGresult   *res = run(CFS_EP_REGISTRY, CFS_STMT_REGISTRY, 2, vals, reply);

	if (res == NULL)
		return;
	if (PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1))
	{
		PQclear(res);
		cfs_reply_detail(reply, 404, "Not Found");
		return;
	}
	reply->status = atoi(PQgetvalue(res, 0, 0));
	reply->body = strdup(PQgetvalue(res, 0, 1));
	reply->len = strlen(reply->body);
	PQclear(res);
}

/* GET /health: 200 when the database (and --read-dsn's) answers and has cfeast, else 503 */
void
cfs_handle_health(CfsReply *reply)
{
	PGresult   *res = run(CFS_EP_HEALTH, CFS_STMT_HEALTH, 0, NULL, reply);

	if (res == NULL)
	{
		reply->status = 503;
		return;
	}
	if (PQntuples(res) == 0)
	{
		CfsError	err = {0};

		cfs_error_set(&err, 503, "42704",
					  "extension \"cfeast\" is not installed in the server's database");
		cfs_reply_error(reply, CFS_EP_HEALTH, &err);
	}
	else
	{
		CfsError	err = {0};

		if (cfs_pool_read_healthy(&err))
			reply_text(reply, 200, "");
		else
			cfs_reply_error(reply, CFS_EP_HEALTH, &err);
	}
	PQclear(res);
}

/*
 * POST /push {"push_source_name", "df", "to"}: 200, empty body.  The body
 * checked; false with the reply set (422) when it is not right.
 */
static bool
push_begin(const char *body, size_t len, CfsCall *call, CfsReply *reply)
{
	Check		ck = {0};
	const char *source,
			   *to;

	if (check_begin(&ck, body, len))
	{
		source = field_string(&ck, "push_source_name", true, false);
		field_rows(&ck, "df", false);
		to = field_string(&ck, "to", false, false);
		(void) field_bool(&ck, "allow_registry_cache");
		(void) field_bool(&ck, "transform_on_write");
		if (source)
			call->own[0] = strdup(source);
		call->own[2] = strdup(to ? to : "online");
	}
	if (!check_end(&ck, reply))
	{
		check_free(&ck);
		return false;
	}
	check_free(&ck);
	call->n = 3;
	call->vals[0] = call->own[0];
	call->vals[1] = body;
	call->vals[2] = call->own[2];
	call->name = call->own[0];
	return true;
}

/* POST /get-online-features: Feast's response, built by the SQL function */
static bool
read_begin(const char *body, size_t len, CfsCall *call, CfsReply *reply)
{
	Check		ck = {0};
	const char *service = NULL;
	char	   *service_copy = NULL,
			   *features = NULL;
	bool		full = false,
				have_features = false;

	if (check_begin(&ck, body, len))
	{
		field_rows(&ck, "entities", true);
		features = field_text_array(&ck, "features", &have_features);
		service = field_string(&ck, "feature_service", false, true);
		full = field_bool(&ck, "full_feature_names");
		(void) field_bool(&ck, "include_feature_view_version_metadata");
		if (service)
			service_copy = strdup(service);
	}
	if (!check_end(&ck, reply))
	{
		check_free(&ck);
		free(features);
		free(service_copy);
		return false;
	}
	check_free(&ck);
	/* as Feast: a feature service, when given, wins over the feature list */
	if (service_copy || !have_features)
	{
		free(features);
		features = service_copy ? NULL : strdup("{}");
	}
	call->n = 4;
	call->own[0] = features;
	call->own[3] = service_copy;
	call->vals[0] = features;
	call->vals[1] = body;
	call->vals[2] = full ? "true" : "false";
	call->vals[3] = service_copy;
	return true;
}

/*
 * POST /write-to-online-store {"feature_view_name", "df"}: the named online
 * view written directly, whatever feeds it (feast_write_online): what
 * Feast's remote online store sends for its materialize and push.  200,
 * body null, as Feast.
 */
static bool
write_begin(const char *body, size_t len, CfsCall *call, CfsReply *reply)
{
	Check		ck = {0};
	const char *view;

	if (check_begin(&ck, body, len))
	{
		view = field_string(&ck, "feature_view_name", true, false);
		field_rows(&ck, "df", false);
		(void) field_bool(&ck, "allow_registry_cache");
		(void) field_bool(&ck, "transform_on_write");
		if (view)
			call->own[0] = strdup(view);
	}
	if (!check_end(&ck, reply))
	{
		check_free(&ck);
		free(call->own[0]);
		call->own[0] = NULL;
		return false;
	}
	check_free(&ck);
	call->n = 2;
	call->vals[0] = call->own[0];
	call->vals[1] = body;
	call->name = call->own[0];
	return true;
}

static void
call_free(CfsCall *call)
{
	int			i;

	for (i = 0; i < 4; i++)
		free(call->own[i]);
	memset(call, 0, sizeof(*call));
}

/*
 * The first half of POST /push, /get-online-features or
 * /write-to-online-store: the body checked and the statement's parameters
 * set (they point into body, which must outlive the call).  False with the
 * reply set (422) when the body is not right.
 */
bool
cfs_call_begin(CfsEndpoint ep, const char *body, size_t len, CfsCall *call, CfsReply *reply)
{
	bool		ok;

	memset(call, 0, sizeof(*call));
	call->ep = ep;
	call->stmt = ep == CFS_EP_PUSH ? CFS_STMT_PUSH : ep == CFS_EP_READ ? CFS_STMT_READ : CFS_STMT_WRITE;
	ok = ep == CFS_EP_PUSH ? push_begin(body, len, call, reply) :
		ep == CFS_EP_READ ? read_begin(body, len, call, reply) :
		write_begin(body, len, call, reply);
	if (!ok)
		call_free(call);
	return ok;
}

/*
 * The second half: the statement's result into the reply (res NULL: the
 * reply already holds the error).  Frees the call; the reply owns res.
 */
void
cfs_call_end(CfsCall *call, PGresult *res, CfsReply *reply)
{
	if (call->ep != CFS_EP_READ)
		cfs_metrics_rows(call->ep, call->name, res);
	if (res == NULL)
		;
	else if (call->ep == CFS_EP_PUSH)
		reply_count(reply, res, 0, "");
	else if (call->ep == CFS_EP_WRITE)
		reply_count(reply, res, 0, "null");
	else
	{
		reply->status = 200;
		reply->result = res;
		if (PQgetisnull(res, 0, 0))
		{
			reply->body = strdup("null");
			reply->len = 4;
		}
		else
		{
			/* the jsonb text straight from the result: no copy, no re-encoding */
			reply->body_in_result = true;
			reply->len = PQgetlength(res, 0, 0);
		}
	}
	call_free(call);
}

/*
 * The second half of a POST /push that shared its statement with others
 * (pipeline.c): its own count, the element of the statement's array.
 */
void
cfs_call_end_count(CfsCall *call, const char *count, CfsReply *reply)
{
	cfs_metrics_count(call->ep, call->name, strtoul(count, NULL, 10));
	reply_text(reply, 200, "");
	snprintf(reply->rows_own, sizeof(reply->rows_own), "%s", count);
	reply->rows = reply->rows_own;
	call_free(call);
}

/* the same on a worker: both halves, the statement run in between */
void
cfs_handle_call(CfsEndpoint ep, const char *body, size_t len, CfsReply *reply)
{
	CfsCall		call;

	if (!cfs_call_begin(ep, body, len, &call, reply))
		return;
	cfs_call_end(&call, run(ep, call.stmt, call.n, call.vals, reply), reply);
}

/*
 * POST /materialize {"start_ts", "end_ts", "feature_views"} and
 * POST /materialize-incremental {"end_ts", "feature_views"}: 200, null.
 */
void
cfs_handle_materialize(const char *body, size_t len, bool incremental, CfsReply *reply)
{
	Check		ck = {0};
	const char *start = NULL,
			   *end = NULL;
	char	   *start_copy = NULL,
			   *end_copy = NULL,
			   *views = NULL;
	bool		have_views;
	PGresult   *res;

	if (check_begin(&ck, body, len))
	{
		if (!incremental)
			start = field_string(&ck, "start_ts", true, false);
		end = field_string(&ck, "end_ts", true, false);
		views = field_text_array(&ck, "feature_views", &have_views);
		(void) field_bool(&ck, "full_feature_names");
		if (!incremental && field_bool(&ck, "disable_event_timestamp"))
			check_fail(&ck, "value_error", "disable_event_timestamp",
					   "Value error, disable_event_timestamp is not supported by cfeast");
		(void) field_string(&ck, "version", false, true);
		if (start)
			start_copy = strdup(start);
		if (end)
			end_copy = strdup(end);
	}
	if (!check_end(&ck, reply))
	{
		check_free(&ck);
		free(start_copy);
		free(end_copy);
		free(views);
		return;
	}
	check_free(&ck);
	if (incremental)
	{
		const char *vals[2] = {end_copy, views};

		res = run(CFS_EP_MATERIALIZE, CFS_STMT_MATERIALIZE_INC, 2, vals, reply);
	}
	else
	{
		const char *vals[3] = {start_copy, end_copy, views};

		res = run(CFS_EP_MATERIALIZE, CFS_STMT_MATERIALIZE, 3, vals, reply);
	}
	free(start_copy);
	free(end_copy);
	free(views);
	cfs_metrics_rows(CFS_EP_MATERIALIZE, NULL, res);
	if (res)
		reply_count(reply, res, 0, "null");
}
