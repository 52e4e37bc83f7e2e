// SPDX-License-Identifier: GPL-2.0
/*
 * policy2q.c - 2Q with a block map (policy2q.h). Lists are intrusive,
 * indexed by cache block; the map and the ghosts are chained hashes.
 */
#include <errno.h>
#include <stdlib.h>

#include "cache/format.h"
#include "cache/policy2q.h"

enum { L_NONE, L_FREE, L_A1IN, L_AM, L_NR };

/* victims looked at before giving up on a list whose tail is busy */
#define SCAN_MAX	64

struct q2_list {
	uint32_t head, tail;		/* head: newest */
	uint32_t n;
};

struct q2 {
	uint32_t nblocks;
	uint32_t kin;			/* A1in's share before Am gives up blocks */
	uint32_t kout;			/* ghosts kept */
	uint32_t *prev, *next;
	uint8_t *list;
	uint64_t *bblock;
	uint32_t *hnext;		/* map chains */
	uint32_t *buckets;
	uint32_t nbuckets;
	struct q2_list l[L_NR];
	/* A1out: a ring of ghosts, with a hash of their own */
	uint64_t *ghost;
	uint32_t *ghnext;
	uint32_t *gbuckets;
	uint32_t gpos, gcount;
	uint64_t evictions;
};

static uint32_t hash64(uint64_t v, uint32_t n)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	return v % n;
}

static void list_del(struct q2 *q, uint32_t i)
{
	struct q2_list *l = &q->l[q->list[i]];

	if (q->prev[i] != Q2_NONE)
		q->next[q->prev[i]] = q->next[i];
	else
		l->head = q->next[i];
	if (q->next[i] != Q2_NONE)
		q->prev[q->next[i]] = q->prev[i];
	else
		l->tail = q->prev[i];
	l->n--;
	q->list[i] = L_NONE;
	q->prev[i] = q->next[i] = Q2_NONE;
}

static void list_push(struct q2 *q, int which, uint32_t i)
{
	struct q2_list *l = &q->l[which];

	q->prev[i] = Q2_NONE;
	q->next[i] = l->head;
	if (l->head != Q2_NONE)
		q->prev[l->head] = i;
	else
		l->tail = i;
	l->head = i;
	l->n++;
	q->list[i] = which;
}

static void map_del(struct q2 *q, uint32_t i)
{
	uint32_t *p = &q->buckets[hash64(q->bblock[i], q->nbuckets)];

	while (*p != Q2_NONE && *p != i)
		p = &q->hnext[*p];
	if (*p == i)
		*p = q->hnext[i];
	q->hnext[i] = Q2_NONE;
	q->bblock[i] = CACHE_NO_BLOCK;
}

static void map_add(struct q2 *q, uint32_t i, uint64_t bblock)
{
	uint32_t *b = &q->buckets[hash64(bblock, q->nbuckets)];

	q->bblock[i] = bblock;
	q->hnext[i] = *b;
	*b = i;
}

uint32_t q2_lookup(const struct q2 *q, uint64_t bblock)
{
	uint32_t i = q->buckets[hash64(bblock, q->nbuckets)];

	while (i != Q2_NONE && q->bblock[i] != bblock)
		i = q->hnext[i];
	return i;
}

static uint32_t ghost_find(const struct q2 *q, uint64_t bblock, uint32_t **link)
{
	uint32_t *p = &q->gbuckets[hash64(bblock, q->kout)];

	while (*p != Q2_NONE && q->ghost[*p] != bblock)
		p = &q->ghnext[*p];
	if (link)
		*link = p;
	return *p;
}

static void ghost_unlink(struct q2 *q, uint32_t g)
{
	uint32_t *p;

	if (ghost_find(q, q->ghost[g], &p) == g)
		*p = q->ghnext[g];
	q->ghost[g] = CACHE_NO_BLOCK;
}

static void ghost_add(struct q2 *q, uint64_t bblock)
{
	uint32_t g = q->gpos, *b;

	if (bblock == CACHE_NO_BLOCK)
		return;
	if (q->ghost[g] != CACHE_NO_BLOCK)
		ghost_unlink(q, g);
	q->ghost[g] = bblock;
	b = &q->gbuckets[hash64(bblock, q->kout)];
	q->ghnext[g] = *b;
	*b = g;
	q->gpos = (g + 1) % q->kout;
}

int q2_create(struct q2 **out, uint32_t nblocks)
{
	struct q2 *q;
	uint32_t i;

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->nblocks = nblocks;
	q->kin = nblocks / 4 ?: 1;
	q->kout = nblocks / 2 ?: 1;
	q->nbuckets = nblocks;
	q->prev = malloc(nblocks * sizeof(*q->prev));
	q->next = malloc(nblocks * sizeof(*q->next));
	q->list = malloc(nblocks);
	q->bblock = malloc(nblocks * sizeof(*q->bblock));
	q->hnext = malloc(nblocks * sizeof(*q->hnext));
	q->buckets = malloc(q->nbuckets * sizeof(*q->buckets));
	q->ghost = malloc(q->kout * sizeof(*q->ghost));
	q->ghnext = malloc(q->kout * sizeof(*q->ghnext));
	q->gbuckets = malloc(q->kout * sizeof(*q->gbuckets));
	if (!q->prev || !q->next || !q->list || !q->bblock || !q->hnext || !q->buckets ||
	    !q->ghost || !q->ghnext || !q->gbuckets) {
		q2_destroy(q);
		return -ENOMEM;
	}
	for (i = 0; i < L_NR; i++)
		q->l[i] = (struct q2_list){ Q2_NONE, Q2_NONE, 0 };
	for (i = 0; i < q->nbuckets; i++)
		q->buckets[i] = Q2_NONE;
	for (i = 0; i < q->kout; i++) {
		q->ghost[i] = CACHE_NO_BLOCK;
		q->gbuckets[i] = Q2_NONE;
		q->ghnext[i] = Q2_NONE;
	}
	/* handed out from the tail: block 0 first */
	for (i = 0; i < nblocks; i++) {
		q->bblock[i] = CACHE_NO_BLOCK;
		q->hnext[i] = Q2_NONE;
		list_push(q, L_FREE, i);
	}
	*out = q;
	return 0;
}

void q2_destroy(struct q2 *q)
{
	if (!q)
		return;
	free(q->prev);
	free(q->next);
	free(q->list);
	free(q->bblock);
	free(q->hnext);
	free(q->buckets);
	free(q->ghost);
	free(q->ghnext);
	free(q->gbuckets);
	free(q);
}

void q2_touch(struct q2 *q, uint32_t idx)
{
	if (q->list[idx] != L_A1IN && q->list[idx] != L_AM)
		return;
	list_del(q, idx);
	list_push(q, L_AM, idx);
}

/* The coldest evictable block of @which, looking at SCAN_MAX at most. */
static uint32_t victim_of(struct q2 *q, int which, q2_evictable_fn evictable, void *arg)
{
	uint32_t i = q->l[which].tail;
	int n = 0;

	while (i != Q2_NONE && n++ < SCAN_MAX) {
		if (evictable(arg, i))
			return i;
		i = q->prev[i];
	}
	return Q2_NONE;
}

uint32_t q2_alloc(struct q2 *q, q2_evictable_fn evictable, void *arg, uint64_t *old)
{
	uint32_t i = q->l[L_FREE].tail;
	bool from_a1in;

	*old = CACHE_NO_BLOCK;
	if (i != Q2_NONE) {
		list_del(q, i);
		return i;
	}
	from_a1in = q->l[L_A1IN].n > q->kin || !q->l[L_AM].n;
	i = victim_of(q, from_a1in ? L_A1IN : L_AM, evictable, arg);
	if (i == Q2_NONE)
		i = victim_of(q, from_a1in ? L_AM : L_A1IN, evictable, arg);
	if (i == Q2_NONE)
		return Q2_NONE;
	if (q->list[i] == L_A1IN)
		ghost_add(q, q->bblock[i]);
	*old = q->bblock[i];
	list_del(q, i);
	map_del(q, i);
	q->evictions++;
	return i;
}

void q2_insert(struct q2 *q, uint32_t idx, uint64_t bblock, bool hot)
{
	uint32_t g = ghost_find(q, bblock, NULL);

	if (g != Q2_NONE) {
		ghost_unlink(q, g);
		hot = true;
	}
	map_add(q, idx, bblock);
	list_push(q, hot ? L_AM : L_A1IN, idx);
}

void q2_remove(struct q2 *q, uint32_t idx)
{
	if (q->list[idx] == L_A1IN || q->list[idx] == L_AM) {
		list_del(q, idx);
		map_del(q, idx);
	} else if (q->list[idx] == L_FREE) {
		list_del(q, idx);
	}
}

void q2_release(struct q2 *q, uint32_t idx)
{
	q2_remove(q, idx);
	list_push(q, L_FREE, idx);
}

uint64_t q2_bblock(const struct q2 *q, uint32_t idx)
{
	return q->bblock[idx];
}

uint32_t q2_count_a1in(const struct q2 *q)
{
	return q->l[L_A1IN].n;
}

uint32_t q2_count_am(const struct q2 *q)
{
	return q->l[L_AM].n;
}

uint32_t q2_count_free(const struct q2 *q)
{
	return q->l[L_FREE].n;
}

uint64_t q2_evictions(const struct q2 *q)
{
	return q->evictions;
}
