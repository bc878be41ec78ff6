// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause

// traced_go_tls - a Go TLS client and server for the traced-programs tests
// (tests/integration/test_traced_programs.py), built there at test time with Debian's Go and
// only the standard library. Go's runtime moves goroutine stacks as they grow, which is why a
// return probe (its return address swapped for a trampoline) would crash it: hstrace must not
// put one in a Go program. Its TLS is crypto/tls; it also links OpenSSL statically (cgo),
// which makes it a program hstrace would probe if it did not refuse Go executables.
//
//	traced_go_tls server CERT KEY COUNT   crypto/tls server on 127.0.0.1, any free port:
//	                                      prints "listening <port>", answers COUNT "GET"s
//	                                      with a fixed body, exits 0
//	traced_go_tls client PORT CA SNI N    N crypto/tls connections, each from a goroutine deep
//	                                      in a recursion (its stack grows and is moved during
//	                                      the handshake): "connected <local port>", then
//	                                      "body <len> <hex>" of the answer's body
//	traced_go_tls openssl PORT CA SNI     one connection through the statically linked
//	                                      OpenSSL (SSL_do_handshake(), X509_verify_cert()):
//	                                      "body <len> <hex>"
package main

/*
#cgo LDFLAGS: -l:libssl.a -l:libcrypto.a -lpthread -ldl
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// One OpenSSL client connection to 127.0.0.1:port: handshake (server verified against ca
// and name sni), "GET /", the answer into out. Returns the bytes read, or -1.
static int openssl_get(int port, const char *ca, const char *sni, char *out, int cap)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	int fd = -1, n = 0, r = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		goto out;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, sni) ||
	    !SSL_set1_host(ssl, sni))
		goto out;
	SSL_set_connect_state(ssl);
	if (SSL_do_handshake(ssl) != 1 || SSL_write(ssl, req, strlen(req)) != (int)strlen(req))
		goto out;
	while (n < cap && (r = SSL_read(ssl, out + n, cap - n)) > 0)
		n += r;
	if (!(SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN))
		SSL_shutdown(ssl);
	r = n;
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return r;
}
*/
import "C"

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"unsafe"
)

const body = "hello from go crypto/tls\n"

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "error "+format+"\n", args...)
	os.Exit(1)
}

func atoi(s string) int {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		die("not a number: %q", s)
	}
	return v
}

func printBody(resp []byte) {
	i := bytes.Index(resp, []byte("\r\n\r\n"))
	if i < 0 {
		die("no end of headers in %q", resp)
	}
	b := resp[i+4:]
	fmt.Printf("body %d %s\n", len(b), hex.EncodeToString(b))
}

func server(cert, key string, count int) {
	kp, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		die("key pair: %v", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{kp}})
	if err != nil {
		die("listen: %v", err)
	}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	for i := 0; i < count; i++ {
		c, err := ln.Accept()
		if err != nil {
			die("accept: %v", err)
		}
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				die("read: %v", err)
			}
			if line == "\r\n" {
				break
			}
		}
		fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		c.Close()
	}
}

// deep recurses with a large frame before calling f, so the goroutine's stack is grown (and
// moved) several times; verify does it again from inside the handshake.
func deep(n int, f func()) byte {
	var pad [512]byte
	pad[n%512] = byte(n)
	if n == 0 {
		f()
		return pad[0]
	}
	return deep(n-1, f) + pad[n%512]
}

func client(port int, ca, sni string, n int) {
	pem, err := os.ReadFile(ca)
	if err != nil {
		die("CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		die("CA: no certificate in %s", ca)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: sni, ClientSessionCache: nil,
		VerifyConnection: func(tls.ConnectionState) error {
			deep(200, func() {})
			return nil
		}}
	for i := 0; i < n; i++ {
		done := make(chan []byte)
		go deep(100, func() {
			c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
			if err != nil {
				die("dial: %v", err)
			}
			fmt.Printf("connected %d\n", c.LocalAddr().(*net.TCPAddr).Port)
			if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
				die("write: %v", err)
			}
			resp, err := io.ReadAll(c)
			if err != nil {
				die("read: %v", err)
			}
			c.NetConn().Close() // no close_notify to a server that has closed: a reset
			done <- resp
		})
		printBody(<-done)
	}
}

func viaOpenSSL(port int, ca, sni string) {
	buf := make([]byte, 65536)
	cca, csni := C.CString(ca), C.CString(sni)
	defer C.free(unsafe.Pointer(cca))
	defer C.free(unsafe.Pointer(csni))
	n := C.openssl_get(C.int(port), cca, csni, (*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf)))
	if n < 0 {
		die("openssl connection failed")
	}
	printBody(buf[:n])
}

func main() {
	a := os.Args
	switch {
	case len(a) == 5 && a[1] == "server":
		server(a[2], a[3], atoi(a[4]))
	case len(a) == 6 && a[1] == "client":
		client(atoi(a[2]), a[3], a[4], atoi(a[5]))
	case len(a) == 5 && a[1] == "openssl":
		viaOpenSSL(atoi(a[2]), a[3], a[4])
	default:
		fmt.Fprintln(os.Stderr, "usage: traced_go_tls server CERT KEY COUNT | "+
			"client PORT CA SNI N | openssl PORT CA SNI")
		os.Exit(2)
	}
}
