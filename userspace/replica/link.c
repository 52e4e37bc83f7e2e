// SPDX-License-Identifier: GPL-2.0
/*
 * link.c - TLS 1.3 over TCP for replication frames (OpenSSL 3.0). The PSK
 * is an external TLS 1.3 PSK handed to OpenSSL through the session
 * callbacks (SSL_CTX_set_psk_use_session_callback on the client,
 * SSL_CTX_set_psk_find_session_callback on the server), as s_client and
 * s_server do with -psk: a wrong key fails the binder check.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "replica/link.h"

#define PSK_MIN		16
#define PSK_MAX		48	/* OpenSSL 3.0 keeps a session's key in SSL_MAX_MASTER_KEY_LENGTH */
#define PSK_IDENTITY	"sluice-replica"

struct link_ctx {
	SSL_CTX *ssl;
	unsigned char psk[PSK_MAX];
	size_t psk_len;
};

struct link {
	int fd;
	SSL *ssl;
	uint8_t *buf;			/* one frame, FRAME_MAX */
};

const char *link_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	buf[0] = '\0';
	if (e)
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int read_psk(const char *path, struct link_ctx *ctx)
{
	char text[2 * PSK_MAX + 4];
	size_t n = 0, i;
	FILE *f = fopen(path, "re");
	int err = 0;

	if (!f)
		return -errno;
	n = fread(text, 1, sizeof(text) - 1, f);
	if (ferror(f))
		err = -EIO;
	fclose(f);
	if (err)
		return err;
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	if (n % 2 || n / 2 < PSK_MIN || n / 2 > PSK_MAX)
		return -EINVAL;
	for (i = 0; i < n; i += 2) {
		int hi = hexval(text[i]), lo = hexval(text[i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		ctx->psk[i / 2] = hi << 4 | lo;
	}
	ctx->psk_len = n / 2;
	return 0;
}

/* The PSK as a TLS 1.3 session: TLS_AES_128_GCM_SHA256, the key as is. */
static SSL_SESSION *psk_session(SSL *ssl)
{
	static const unsigned char aes128gcm[] = { 0x13, 0x01 };
	struct link_ctx *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm);
	SSL_SESSION *s;

	if (!cipher)
		return NULL;
	s = SSL_SESSION_new();
	if (!s)
		return NULL;
	if (!SSL_SESSION_set1_master_key(s, ctx->psk, ctx->psk_len) ||
	    !SSL_SESSION_set_cipher(s, cipher) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

static int psk_use(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		   SSL_SESSION **sess)
{
	SSL_SESSION *s = psk_session(ssl);

	if (!s)
		return 0;
	if (md && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
		/* a second ClientHello asked for another hash: no PSK for it */
		SSL_SESSION_free(s);
		*sess = NULL;
		return 1;
	}
	*id = (const unsigned char *)PSK_IDENTITY;
	*idlen = strlen(PSK_IDENTITY);
	*sess = s;
	return 1;
}

static int psk_find(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	*sess = NULL;
	if (idlen != strlen(PSK_IDENTITY) || memcmp(id, PSK_IDENTITY, idlen))
		return 1;	/* unknown identity: no PSK, and no certificate either */
	*sess = psk_session(ssl);
	return *sess ? 1 : 0;
}

int link_ctx_new(const struct link_creds *c, bool server, struct link_ctx **out)
{
	bool psk = c->psk_file, certs = c->cert || c->key || c->ca;
	struct link_ctx *ctx;
	int err;

	if (psk == certs || (certs && !(c->cert && c->key && c->ca)))
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	if (psk) {
		err = read_psk(c->psk_file, ctx);
		if (err)
			goto fail;
	}
	ctx->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx->ssl) {
		err = -ENOMEM;
		goto fail;
	}
	SSL_CTX_set_app_data(ctx->ssl, ctx);
	SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_3_VERSION);
	SSL_CTX_set_num_tickets(ctx->ssl, 0);
	SSL_CTX_set_mode(ctx->ssl, SSL_MODE_AUTO_RETRY);
	/*
	 * A peer killed without close_notify is a closed link (-EPIPE), as in
	 * OpenSSL 1.1; truncation cannot hurt: frames carry their own lengths.
	 */
	SSL_CTX_set_options(ctx->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (psk) {
		/*
		 * Only suites of the PSK's hash (SHA-256): OpenSSL 3.0 picks the
		 * suite before it looks at the PSK and drops a PSK of another hash,
		 * and the default list starts with a SHA-384 suite.
		 */
		if (!SSL_CTX_set_ciphersuites(ctx->ssl, "TLS_AES_128_GCM_SHA256:"
					      "TLS_CHACHA20_POLY1305_SHA256")) {
			err = -EINVAL;
			goto fail;
		}
		if (server)
			SSL_CTX_set_psk_find_session_callback(ctx->ssl, psk_find);
		else
			SSL_CTX_set_psk_use_session_callback(ctx->ssl, psk_use);
		*out = ctx;
		return 0;
	}
	err = -EACCES;
	if (access(c->cert, R_OK) || access(c->key, R_OK) || access(c->ca, R_OK)) {
		err = -errno;
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx->ssl, c->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx->ssl, c->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx->ssl) != 1 ||
	    SSL_CTX_load_verify_locations(ctx->ssl, c->ca, NULL) != 1)
		goto fail;
	/*
	 * Both sides prove themselves with a certificate of the CA. The name in
	 * it is not checked: the CA is the pair's own (docs/replica.md).
	 */
	SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	*out = ctx;
	return 0;
fail:
	link_ctx_free(ctx);
	return err;
}

void link_ctx_free(struct link_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl);
	OPENSSL_cleanse(ctx->psk, sizeof(ctx->psk));
	free(ctx);
}

/* "HOST:PORT" or "[V6]:PORT" into host and port. */
static int split(const char *hp, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(hp, ':');
	size_t n;

	if (!colon || !colon[1] || strlen(colon + 1) >= plen)
		return -EINVAL;
	n = colon - hp;
	if (n >= 2 && hp[0] == '[' && hp[n - 1] == ']') {
		hp++;
		n -= 2;
	}
	if (n >= hlen)
		return -EINVAL;
	memcpy(host, hp, n);
	host[n] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static int resolve(const char *hp, bool passive, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0 };
	char host[256], port[16];
	int err;

	err = split(hp, host, sizeof(host), port, sizeof(port));
	if (err)
		return err;
	err = getaddrinfo(host[0] ? host : NULL, port, &hints, res);
	if (err)
		return err == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	return 0;
}

int link_listen(const char *addr)
{
	struct addrinfo *res, *ai;
	int fd = -1, one = 1, err;

	err = resolve(addr, true, &res);
	if (err)
		return err;
	err = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 4))
			break;
		err = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : err;
}

static void set_timeouts(int fd, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int handshake(struct link_ctx *ctx, int fd, bool server, struct link **out)
{
	struct link *l;
	int one = 1, idle = 10, intvl = 5, cnt = 3, ret;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* a peer gone without a FIN (a cut link) is noticed within ~25 s */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->fd = fd;
	l->buf = malloc(FRAME_MAX);
	l->ssl = SSL_new(ctx->ssl);
	if (!l->buf || !l->ssl || !SSL_set_fd(l->ssl, fd)) {
		link_close(l);
		return -ENOMEM;
	}
	ret = server ? SSL_accept(l->ssl) : SSL_connect(l->ssl);
	if (ret != 1) {
		link_close(l);
		return -EACCES;
	}
	*out = l;
	return 0;
}

int link_accept(struct link_ctx *ctx, int lfd, char *peer, size_t peer_len, struct link **out)
{
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	char host[128], port[16];
	int fd;

	fd = accept4(lfd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (getnameinfo((struct sockaddr *)&sa, salen, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(host, sizeof(host), "?");
	snprintf(peer, peer_len, "%s:%s", host, port);
	/* a peer that stalls in the handshake does not hold the receiver */
	set_timeouts(fd, 10000);
	return handshake(ctx, fd, true, out);
}

int link_connect(struct link_ctx *ctx, const char *hostport, int timeout_ms, struct link **out)
{
	struct addrinfo *res, *ai;
	int fd = -1, err;

	err = resolve(hostport, false, &res);
	if (err)
		return err;
	err = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		/* Linux bounds connect() by SO_SNDTIMEO */
		set_timeouts(fd, timeout_ms);
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		err = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return err;
	return handshake(ctx, fd, false, out);
}

int link_set_timeout(struct link *l, int timeout_ms)
{
	set_timeouts(l->fd, timeout_ms);
	return 0;
}

static int io_error(struct link *l, int ret)
{
	int e = SSL_get_error(l->ssl, ret);

	ERR_clear_error();
	if (e == SSL_ERROR_ZERO_RETURN)
		return -EPIPE;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -ETIMEDOUT;
	if (e == SSL_ERROR_SYSCALL)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -EPIPE;
	return -EIO;
}

int link_send(struct link *l, const struct frame *f)
{
	size_t n = frame_encode(f, l->buf), done = 0;
	int ret;

	while (done < n) {
		ret = SSL_write(l->ssl, l->buf + done, (int)(n - done));
		if (ret <= 0)
			return io_error(l, ret);
		done += ret;
	}
	return 0;
}

static int read_full(struct link *l, uint8_t *buf, size_t n)
{
	size_t done = 0;
	int ret;

	while (done < n) {
		errno = 0;
		ret = SSL_read(l->ssl, buf + done, (int)(n - done));
		/*
		 * A stop and SIGCONT end a receive that has SO_RCVTIMEO early,
		 * with EINTR (signal(7), Linux): if the peer's bytes arrived
		 * meanwhile, that was no silence of the peer's; read on. (The
		 * replica's automatic failover counts silence by it.)
		 */
		if (ret <= 0 && errno == EINTR && link_readable(l)) {
			ERR_clear_error();
			continue;
		}
		if (ret <= 0)
			return io_error(l, ret);
		done += ret;
	}
	return 0;
}

int link_recv(struct link *l, struct frame *f)
{
	uint32_t plen;
	size_t used;
	int err;

	err = read_full(l, l->buf, FRAME_HDR);
	if (err)
		return err;
	err = frame_decode_header(l->buf, &plen);
	if (err)
		return err;
	err = read_full(l, l->buf + FRAME_HDR, plen);
	if (err)
		return err;
	return frame_decode(l->buf, FRAME_HDR + plen, f, &used);
}

bool link_readable(struct link *l)
{
	struct pollfd p = { .fd = l->fd, .events = POLLIN };

	return SSL_pending(l->ssl) > 0 || poll(&p, 1, 0) > 0;
}

void link_shutdown(struct link *l)
{
	/* reads only: the close that follows still sends close_notify */
	shutdown(l->fd, SHUT_RD);
}

void link_close(struct link *l)
{
	if (!l)
		return;
	if (l->ssl) {
		SSL_shutdown(l->ssl);
		SSL_free(l->ssl);
	}
	if (l->fd >= 0)
		close(l->fd);
	free(l->buf);
	free(l);
}
