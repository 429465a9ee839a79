#pragma once
// The TLS transport of cluster links: a CAF middleman actor (interface
// caf::io::middleman_actor: publish, connect, ...) whose connections are TLS
// sessions of CAF's OpenSSL module (caf::openssl::session, libcaf_openssl),
// which load this node's certificate and the cluster CA from the actor
// system's openssl_* settings and require and verify the peer's certificate
// on both sides (actors/cluster_tls.hpp).
//
// Why not the module's own middleman actor (caf::openssl::publish and
// sys.openssl_manager().actor_handle()): in CAF 0.17.6 its sessions never
// empty OpenSSL's per-thread error queue. A failed handshake (any stranger
// with a wrong or no certificate) leaves its errors there (session.cpp drains
// them only inside CAF_LOG_INFO, compiled out in Debian's build,
// CAF_LOG_LEVEL_QUIET), and the next SSL_read/SSL_connect on that thread that
// merely would block is then classified by SSL_get_error as a failure: every
// TLS link of the node drops, and new ones fail, for as long as strangers
// keep trying. Seen here with one `openssl s_client` without a certificate
// against a linked node. CAF fixed it in its later caf-net (commit 2815cf255,
// "Fix error handling in OpenSSL wrapper": ERR_clear_error before each call);
// this transport does the same around every call into the module's session.
// The scribe, doorman and middleman actor around the session are
// libcaf_openssl/src/openssl/middleman_actor.cpp of CAF 0.17.6 (BSD-3-Clause,
// Copyright 2011-2018 Dominik Charousset), with that change.

#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>

namespace hearth::actors {

/// Spawns the TLS middleman actor on the node's BASP broker (so its peers are
/// the middleman's peers: proxies, heartbeats, connection timeout). Requires
/// the caf::openssl::manager module loaded and configured (openssl_*
/// settings) and the io::middleman running. Stop it with stop_tls_middleman
/// before the actor system ends (it runs on a thread of its own).
caf::io::middleman_actor spawn_tls_middleman(caf::actor_system& sys);

/// Ends the TLS middleman actor and waits until it is gone. Idempotent (an
/// invalid handle is ignored).
void stop_tls_middleman(caf::actor_system& sys, caf::io::middleman_actor& mm);

}  // namespace hearth::actors
