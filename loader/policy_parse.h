/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy_parse.h - a policy file as a tree of YAML nodes, each carrying the
 * file, line and column it came from, plus the diagnostics list every later
 * stage (check, compile) appends to. The parser knows nothing of the policy
 * schema: it only builds mappings, sequences and scalars, rejecting what
 * sluice never needs (aliases, tags, multiple documents, complex keys).
 */
#ifndef SLUICE_POLICY_PARSE_H
#define SLUICE_POLICY_PARSE_H

#include <stdbool.h>
#include <stddef.h>

enum pnode_type {
	PN_SCALAR,
	PN_MAP,
	PN_SEQ,
};

struct pnode;

/* One key/value pair of a mapping; the key is always a scalar. */
struct pnode_pair {
	struct pnode *key;
	struct pnode *val;
};

struct pnode {
	enum pnode_type type;
	const char *file;	/* owned by the policy_doc */
	unsigned int line;	/* 1-based */
	unsigned int col;	/* 1-based */
	char *str;		/* PN_SCALAR: the text */
	bool quoted;		/* PN_SCALAR: written in quotes (always a string) */
	size_t n;		/* PN_MAP: pairs, PN_SEQ: items */
	struct pnode_pair *pairs;
	struct pnode **items;
};

/* A diagnostic: "file:line:col: msg". */
struct policy_diag {
	char *file;
	unsigned int line;
	unsigned int col;
	char *msg;
};

struct policy_diags {
	struct policy_diag *v;
	size_t n;
	size_t cap;
	int err;		/* -ENOMEM if a diagnostic could not be recorded */
};

void policy_diag_add(struct policy_diags *d, const char *file, unsigned int line,
		     unsigned int col, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* At a node's position. */
void policy_diag_at(struct policy_diags *d, const struct pnode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void policy_diags_free(struct policy_diags *d);
/* Sort by file, line, column (stable), for output in reading order. */
void policy_diags_sort(struct policy_diags *d);

/* A parsed file: its name (for positions) and root node (NULL if empty). */
struct policy_doc {
	char *file;
	struct pnode *root;
};

/*
 * Parse @len bytes of YAML. Syntax errors become diagnostics and the
 * function returns -EINVAL with doc->root NULL; -ENOMEM on allocation
 * failure. An empty document is not an error here (root is NULL).
 */
int policy_parse_buf(const char *file, const char *buf, size_t len, struct policy_doc *doc,
		     struct policy_diags *diags);

/* Read and parse a file; an unreadable file is a diagnostic at 1:1 and -errno. */
int policy_parse_file(const char *path, struct policy_doc *doc, struct policy_diags *diags);

void policy_doc_free(struct policy_doc *doc);

/* Mapping lookup by key; NULL if absent or @map is not a mapping. */
struct pnode *pnode_get(const struct pnode *map, const char *key);

/* Deepest nesting the parser accepts; deeper input is a diagnostic, not a crash. */
#define POLICY_MAX_DEPTH	32
/* Largest file accepted. */
#define POLICY_MAX_BYTES	(1 << 20)

#endif /* SLUICE_POLICY_PARSE_H */
