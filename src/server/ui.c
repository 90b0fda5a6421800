/*-------------------------------------------------------------------------
 * ui.c
 *	  cfeast-server's side of Feast's web UI (@feast-dev/feast-ui).
 *
 * The UI is a React app that reads the registry over the REST API of Feast's
 * registry server.  cfeast-server answers that API under /api/v1 (and the
 * UI's /projects-list.json, which names the database as the one project and
 * /api/v1 as its registry path) with one SQL call per request,
 * feast._registry_api(path, query), run by a worker like every other
 * endpoint (endpoints.c: cfs_handle_registry).  The translation from the
 * catalog to Feast's objects is the one feast_export_registry() uses.
 *
 * With --ui DIR the server also serves a built UI (test/ui, `make ui`):
 * GET of a file under DIR with its content type; a path with a ".." segment,
 * or one that resolves (symlinks included) outside DIR, is 404; a path that
 * names no file and has no extension is one of the UI's client-side routes
 * (/p/mydb/feature-view/x) and gets DIR/index.html.  Files are read on the
 * HTTP thread: they are small and local, and need no database.
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "server.h"

/* the API path of a URL ("entities/all"), or NULL if it is not the API's */
const char *
cfs_ui_api_path(const char *url)
{
	size_t		n = strlen(CFS_UI_API);

	if (strcmp(url, "/projects-list.json") == 0)
		return "projects-list.json";
	if (strncmp(url, CFS_UI_API, n) == 0 && (url[n] == '/' || url[n] == '\0'))
		return url[n] ? url + n + 1 : "";
	return NULL;
}

static enum MHD_Result
add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void) kind;
	if (key && *key)
		json_object_set_new((json_t *) cls, key, value ? json_string(value) : json_null());
	return MHD_YES;
}

/* the query string's arguments as a JSON object (the last of a repeated key wins) */
char *
cfs_ui_query_json(struct MHD_Connection *conn)
{
	json_t	   *args = json_object();
	char	   *s;

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, args);
	s = json_dumps(args, JSON_COMPACT);
	json_decref(args);
	return s;
}

static const char *
content_type_of(const char *path)
{
	static const struct
	{
		const char *ext;
		const char *type;
	}			types[] = {
		{".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
		{".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
		{".json", "application/json"}, {".map", "application/json"},
		{".svg", "image/svg+xml"}, {".png", "image/png"}, {".jpg", "image/jpeg"},
		{".gif", "image/gif"}, {".ico", "image/x-icon"}, {".woff2", "font/woff2"},
		{".woff", "font/woff"}, {".ttf", "font/ttf"}, {".txt", "text/plain; charset=utf-8"},
		{NULL, NULL}
	};
	const char *dot = strrchr(path, '.');
	int			i;

	if (dot && strchr(dot, '/') == NULL)
		for (i = 0; types[i].ext; i++)
			if (strcasecmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

/* read a regular file whole into reply; false if it is not one */
static bool
read_file(const char *path, CfsReply *reply)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char	   *buf;
	size_t		got = 0;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t) (256 << 20))
	{
		close(fd);
		return false;
	}
	buf = malloc((size_t) st.st_size + 1);
	if (buf == NULL)
	{
		close(fd);
		return false;
	}
	while (got < (size_t) st.st_size)
	{
		ssize_t		r = read(fd, buf + got, (size_t) st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t) r;
	}
	close(fd);
	reply->status = 200;
	reply->body = buf;
	reply->len = got;
	reply->content_type = content_type_of(path);
	return true;
}

/* is the resolved path inside the resolved root? */
static bool
inside(const char *root, const char *path)
{
	char		real[PATH_MAX];
	size_t		n = strlen(root);

	if (realpath(path, real) == NULL)
		return false;
	return strncmp(real, root, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

/*
 * GET url from DIR: true with the reply set (the file, index.html for a
 * client-side route, or 404 for a path that would leave DIR); false when
 * nothing under DIR answers, so the caller's 404 applies.
 */
bool
cfs_ui_static(const char *dir, const char *url, CfsReply *reply)
{
	char		root[PATH_MAX];
	char		path[PATH_MAX];
	const char *last;
	const char *p;

	if (dir == NULL || url[0] != '/' || realpath(dir, root) == NULL)
		return false;
	/* no ".." segment and no backslash, whatever the encoding was (libmicrohttpd decodes %2e, %2f) */
	for (p = url; *p; p++)
		if (*p == '\\' ||
			(p[0] == '.' && p[1] == '.' && (p == url || p[-1] == '/') && (p[2] == '/' || p[2] == '\0')))
		{
			cfs_reply_detail(reply, 404, "Not Found");
			return true;
		}
	if (strcmp(url, "/") == 0)
		url = "/index.html";
	if (snprintf(path, sizeof(path), "%s%s", root, url) >= (int) sizeof(path))
	{
		cfs_reply_detail(reply, 404, "Not Found");
		return true;
	}
	if (access(path, F_OK) == 0)
	{
		if (!inside(root, path) || !read_file(path, reply))
			cfs_reply_detail(reply, 404, "Not Found");
		return true;
	}
	/* a client-side route: no file, no extension in its last segment */
	last = strrchr(url, '/');
	if (last && strchr(last, '.') == NULL)
	{
		if (snprintf(path, sizeof(path), "%s/index.html", root) < (int) sizeof(path) &&
			read_file(path, reply))
			return true;
	}
	return false;
}
