// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <yaml.h>

#include "loader/policy_parse.h"

/* ------------------------------------------------------------ diagnostics */

static void diag_vadd(struct policy_diags *d, const char *file, unsigned int line,
		      unsigned int col, const char *fmt, va_list ap)
{
	struct policy_diag *g;
	char *msg;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct policy_diag *v = realloc(d->v, cap * sizeof(*v));

		if (!v) {
			d->err = -ENOMEM;
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	if (vasprintf(&msg, fmt, ap) < 0) {
		d->err = -ENOMEM;
		return;
	}
	g = &d->v[d->n];
	g->file = strdup(file ? file : "-");
	if (!g->file) {
		free(msg);
		d->err = -ENOMEM;
		return;
	}
	g->line = line;
	g->col = col;
	g->msg = msg;
	d->n++;
}

void policy_diag_add(struct policy_diags *d, const char *file, unsigned int line,
		     unsigned int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, file, line, col, fmt, ap);
	va_end(ap);
}

void policy_diag_at(struct policy_diags *d, const struct pnode *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, at ? at->file : NULL, at ? at->line : 1, at ? at->col : 1, fmt, ap);
	va_end(ap);
}

void policy_diags_free(struct policy_diags *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static int diag_cmp(const void *a, const void *b)
{
	const struct policy_diag *x = a, *y = b;
	int c = strcmp(x->file, y->file);

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	/* equal positions keep insertion order: compare addresses */
	return x < y ? -1 : x > y;
}

void policy_diags_sort(struct policy_diags *d)
{
	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), diag_cmp);
}

/* ------------------------------------------------------------------ tree */

static void pnode_free(struct pnode *n)
{
	size_t i;

	if (!n)
		return;
	if (n->type == PN_MAP) {
		for (i = 0; i < n->n; i++) {
			pnode_free(n->pairs[i].key);
			pnode_free(n->pairs[i].val);
		}
	} else if (n->type == PN_SEQ) {
		for (i = 0; i < n->n; i++)
			pnode_free(n->items[i]);
	}
	free(n->pairs);
	free(n->items);
	free(n->str);
	free(n);
}

void policy_doc_free(struct policy_doc *doc)
{
	if (!doc)
		return;
	pnode_free(doc->root);
	free(doc->file);
	doc->root = NULL;
	doc->file = NULL;
}

struct pnode *pnode_get(const struct pnode *map, const char *key)
{
	size_t i;

	if (!map || map->type != PN_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (!strcmp(map->pairs[i].key->str, key))
			return map->pairs[i].val;
	return NULL;
}

static struct pnode *pnode_new(enum pnode_type type, const char *file, yaml_mark_t mark)
{
	struct pnode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = type;
	n->file = file;
	n->line = (unsigned int)mark.line + 1;
	n->col = (unsigned int)mark.column + 1;
	return n;
}

static int seq_append(struct pnode *seq, struct pnode *item)
{
	struct pnode **v = realloc(seq->items, (seq->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	seq->items = v;
	seq->items[seq->n++] = item;
	return 0;
}

static int map_append(struct pnode *map, struct pnode *key)
{
	struct pnode_pair *v = realloc(map->pairs, (map->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	map->pairs = v;
	map->pairs[map->n].key = key;
	map->pairs[map->n].val = NULL;
	map->n++;
	return 0;
}

/* ---------------------------------------------------------------- parser */

struct builder {
	const char *file;
	struct policy_diags *diags;
	struct pnode *stack[POLICY_MAX_DEPTH + 1];
	int depth;
	struct pnode *root;
};

/* Hang @n under the node being built; takes ownership of @n in all cases. */
static int attach(struct builder *b, struct pnode *n)
{
	struct pnode *top;
	size_t i;
	int err;

	if (!b->depth) {
		b->root = n;
		return 0;
	}
	top = b->stack[b->depth - 1];
	if (top->type == PN_SEQ) {
		err = seq_append(top, n);
		if (err)
			pnode_free(n);
		return err;
	}
	/* a mapping: either a key (scalar) or the value of the last key */
	if (top->n && !top->pairs[top->n - 1].val) {
		top->pairs[top->n - 1].val = n;
		return 0;
	}
	if (n->type != PN_SCALAR) {
		policy_diag_at(b->diags, n, "mapping keys must be plain words");
		pnode_free(n);
		return -EINVAL;
	}
	for (i = 0; i < top->n; i++) {
		if (!strcmp(top->pairs[i].key->str, n->str)) {
			policy_diag_at(b->diags, n, "duplicate key '%s' (first at %u:%u)", n->str,
				       top->pairs[i].key->line, top->pairs[i].key->col);
			break;
		}
	}
	err = map_append(top, n);
	if (err)
		pnode_free(n);
	return err;
}

static int push(struct builder *b, struct pnode *n)
{
	int err;

	if (b->depth >= POLICY_MAX_DEPTH) {
		policy_diag_at(b->diags, n, "nesting deeper than %d levels", POLICY_MAX_DEPTH);
		pnode_free(n);
		return -EINVAL;
	}
	err = attach(b, n);
	if (err)
		return err;
	b->stack[b->depth++] = n;
	return 0;
}

static void syntax_error(struct builder *b, yaml_parser_t *p)
{
	yaml_mark_t m = p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR) {
		policy_diag_add(b->diags, b->file, 1, 1, "out of memory");
		return;
	}
	if (p->context)
		m = p->problem_mark;
	policy_diag_add(b->diags, b->file, (unsigned int)m.line + 1, (unsigned int)m.column + 1,
			"YAML syntax error: %s%s%s", p->problem ? p->problem : "malformed input",
			p->context ? " " : "", p->context ? p->context : "");
}

static int handle_event(struct builder *b, yaml_event_t *ev, int *docs)
{
	struct pnode *n;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1) {
			policy_diag_add(b->diags, b->file, (unsigned int)ev->start_mark.line + 1,
					(unsigned int)ev->start_mark.column + 1,
					"only one YAML document per policy file");
			return -EINVAL;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		policy_diag_add(b->diags, b->file, (unsigned int)ev->start_mark.line + 1,
				(unsigned int)ev->start_mark.column + 1,
				"YAML aliases are not supported; repeat the value");
		return -EINVAL;
	case YAML_SCALAR_EVENT:
		n = pnode_new(PN_SCALAR, b->file, ev->start_mark);
		if (!n)
			return -ENOMEM;
		n->str = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		if (!n->str) {
			pnode_free(n);
			return -ENOMEM;
		}
		n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
			    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
		return attach(b, n);
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		n = pnode_new(ev->type == YAML_MAPPING_START_EVENT ? PN_MAP : PN_SEQ, b->file,
			      ev->start_mark);
		if (!n)
			return -ENOMEM;
		return push(b, n);
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		if (b->depth)
			b->depth--;
		return 0;
	default:
		return 0;
	}
}

int policy_parse_buf(const char *file, const char *buf, size_t len, struct policy_doc *doc,
		     struct policy_diags *diags)
{
	struct builder b = { .diags = diags };
	yaml_parser_t parser;
	yaml_event_t ev;
	int docs = 0, err = 0;
	bool done = false;

	memset(doc, 0, sizeof(*doc));
	doc->file = strdup(file);
	if (!doc->file)
		return -ENOMEM;
	b.file = doc->file;
	if (!yaml_parser_initialize(&parser)) {
		err = -ENOMEM;
		goto out_free_doc;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(&b, &parser);
			err = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		err = handle_event(&b, &ev, &docs);
		yaml_event_delete(&ev);
		if (err)
			break;
	}
	yaml_parser_delete(&parser);
	if (err) {
		pnode_free(b.root);
		goto out_free_doc;
	}
	doc->root = b.root;
	return 0;

out_free_doc:
	free(doc->file);
	doc->file = NULL;
	return err;
}

int policy_parse_file(const char *path, struct policy_doc *doc, struct policy_diags *diags)
{
	struct stat st;
	char *buf;
	ssize_t got;
	size_t off = 0;
	int fd, err;

	memset(doc, 0, sizeof(*doc));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		policy_diag_add(diags, path, 1, 1, "cannot read policy file: %s", strerror(-err));
		return err;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > POLICY_MAX_BYTES) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -EFBIG;
		policy_diag_add(diags, path, 1, 1, "cannot read policy file: %s",
				err == -EISDIR ? "is a directory" :
				"not a regular file of at most 1 MiB");
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	while (off < (size_t)st.st_size) {
		got = read(fd, buf + off, (size_t)st.st_size - off);
		if (got <= 0)
			break;
		off += (size_t)got;
	}
	err = policy_parse_buf(path, buf, off, doc, diags);
	free(buf);
out_close:
	close(fd);
	return err;
}
