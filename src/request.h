/*-------------------------------------------------------------------------
 * request.h
 *	  The features a read asks for: references and feature services,
 *	  resolved and checked in one place.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_REQUEST_H
#define CFEAST_REQUEST_H

#include "cfeast.h"

#include "utils/array.h"

/* one feature asked for */
typedef struct CfFeatureRef
{
	CfView	   *view;
	int			feature;		/* index into the view's features */
	char	   *name;			/* output name: "feature" or "alias__feature" */
	char	   *alias;			/* the name it is asked by: the view's, or a service's projection alias */
	char	  **key_cols;		/* entity row column of each of the view's join keys (the
								 * view's key_names unless a projection maps them) */
} CfFeatureRef;

/* the features asked for, in the order asked */
typedef struct CfFeatureList
{
	int			n;
	CfFeatureRef *refs;
} CfFeatureList;

/* ---------- in request.c ---------- */

/*
 * The features of "features" ("view:feature" references) or of feature
 * service "service" (exactly one of them non-NULL), with their output
 * names; every reference exists, no feature comes twice and no two share
 * an output name.  A service's references may name a projection alias
 * instead of a view: refs of one alias share "alias" (compare it to group
 * them) and "key_cols".  SPI connected, registry cache pinned; the list lives
 * in the registry cache and must not be changed.
 */
extern const CfFeatureList *cf_resolve_features(ArrayType *features, const char *service,
												bool full_names);
/* "alias:feature" of a feature asked for (as written), for messages */
extern char *cf_feature_ref_text(const CfFeatureRef *ref);
/* raise 42701: a feature would take the name of a column of the entity rows */
extern void cf_feature_named_like_column(const CfFeatureRef *ref, const char *column);

#endif							/* CFEAST_REQUEST_H */
