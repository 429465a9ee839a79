#pragma once
// Mutual TLS on cluster links (docs/architecture.md, "The cluster"): the
// files of one node and the start-up check that they fit together. The links
// themselves are sessions of CAF's OpenSSL module (libcaf_openssl,
// caf/openssl/session.hpp) driven by actors/tls_transport.hpp: with a
// certificate, key and CA file configured, every TLS context a session makes
// loads them and sets SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT on
// both the dialing and the accepting side (CAF 0.17.6,
// libcaf_openssl/src/openssl/session.cpp, create_ssl_context), so a peer
// without a certificate signed by the CA cannot complete a handshake. It
// checks no host name: any certificate the CA signed is a cluster node.

#include <string>

namespace hearth::config {
struct config;
}

namespace hearth::actors {

/// The PEM files of a node's cluster TLS: all three set, or none (plaintext
/// links). CAF reads them again for every new connection.
struct cluster_tls_files {
  std::string cert;  // certificate chain of this node (leaf first)
  std::string key;   // its private key, unencrypted
  std::string ca;    // the cluster CA: the only issuer a peer may have

  bool enabled() const { return !cert.empty(); }

  /// clusterTLSCert, clusterTLSKey and clusterTLSCA of `cfg`
  /// (config::validate has checked they are all set or none).
  static cluster_tls_files from_config(const config::config& cfg);
};

/// "tls" or "plaintext": the transport of this node's cluster links.
inline const char* cluster_transport(const cluster_tls_files& files) {
  return files.enabled() ? "tls" : "plaintext";
}

/// Loads the three files with OpenSSL the way CAF will, and verifies this
/// node's own certificate against the CA as a TLS server and as a TLS client
/// certificate (a node dials and accepts links), so a mistake stops start-up
/// instead of isolating the node. Throws config::config_error naming the key
/// and file and OpenSSL's reason. No-op when TLS is off.
void check_cluster_tls(const cluster_tls_files& files);

}  // namespace hearth::actors
