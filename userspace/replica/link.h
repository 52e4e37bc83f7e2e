/* SPDX-License-Identifier: GPL-2.0 */
/*
 * link.h - the replication link: frames (replica/frame.h) over TLS 1.3 over
 * TCP, with OpenSSL. Either a pre-shared key (TLS 1.3 external PSK, with
 * an ephemeral key exchange: psk_dhe_ke) or certificates, each side
 * verifying the other's against a CA. Nothing of the cryptography is ours;
 * a peer without the key or a certificate the CA signed fails the
 * handshake and no frame of it is ever read. Blocking sockets with time
 * limits; one thread uses one link. No logging: -errno, and link_error()
 * says what OpenSSL found.
 */
#ifndef SLUICE_REPLICA_LINK_H
#define SLUICE_REPLICA_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "replica/frame.h"

struct link_creds {
	const char *psk_file;		/* hex, 16 to 48 bytes ('openssl rand -hex 32') */
	const char *cert, *key, *ca;	/* or all three: PEM files */
};

struct link_ctx;
struct link;

/*
 * A TLS context for one side. 0, -EINVAL (neither or both kinds of
 * credentials, a key file that is no hex key of 16-48 bytes), -ENOENT,
 * -EACCES (a file not readable or not PEM: link_error() says), -ENOMEM.
 */
int link_ctx_new(const struct link_creds *c, bool server, struct link_ctx **out);
void link_ctx_free(struct link_ctx *ctx);

/* Listen on "ADDR:PORT" ("[::1]:7070", "0.0.0.0:7070"): the fd, or -errno. */
int link_listen(const char *addr);

/*
 * Accept one connection on @lfd and run the server's handshake. The peer's
 * address goes to @peer. 0, -EACCES (the handshake failed: wrong key or
 * certificate; link_error() says), -errno of the socket.
 */
int link_accept(struct link_ctx *ctx, int lfd, char *peer, size_t peer_len, struct link **out);

/* Connect to "HOST:PORT" within @timeout_ms and run the client's handshake. As accept. */
int link_connect(struct link_ctx *ctx, const char *hostport, int timeout_ms, struct link **out);

/* Time limit of one receive; 0: none. */
int link_set_timeout(struct link *l, int timeout_ms);

/* Send one frame. 0, -EPIPE (the peer went away), -ETIMEDOUT, -EIO. */
int link_send(struct link *l, const struct frame *f);

/*
 * Receive one frame; a RECORD's data points into the link's buffer until
 * the next receive. 0, -EPIPE (closed), -ETIMEDOUT, -EBADMSG and
 * -EPROTONOSUPPORT (frame_decode's), -EIO.
 */
int link_recv(struct link *l, struct frame *f);

/* Is a frame (or part of one) waiting to be read? */
bool link_readable(struct link *l);

/* Wake a receive blocked on the link in another thread: it fails with -EPIPE. */
void link_shutdown(struct link *l);

void link_close(struct link *l);

/* OpenSSL's reason for the last failure on this thread, or "". */
const char *link_error(char *buf, size_t len);

#endif /* SLUICE_REPLICA_LINK_H */
