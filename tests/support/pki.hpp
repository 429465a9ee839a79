#pragma once
// Throwaway certificates for the cluster TLS tests, made with the openssl CLI
// (EC P-256, valid 1 day): a CA, node certificates it signs, and self-signed
// certificates that no cluster CA vouches for.

#include <filesystem>
#include <string>

namespace hearth::testing {

/// A PEM certificate and its unencrypted PEM key.
struct pem_pair {
  std::filesystem::path cert;
  std::filesystem::path key;
};

/// A CA certificate (CN=`name`, basicConstraints CA:TRUE) as `dir`/<name>.pem
/// and .key. Throws std::runtime_error with openssl's output on failure.
pem_pair make_ca(const std::filesystem::path& dir, const std::string& name);

/// A certificate for a cluster node (CN=`name`, SAN IP:127.0.0.1, extended
/// key usage serverAuth and clientAuth) signed by `ca`, as `dir`/<name>.pem
/// and .key. Throws like make_ca.
pem_pair make_node_certificate(const std::filesystem::path& dir, const pem_pair& ca,
                               const std::string& name);

/// A self-signed node certificate (its own issuer; usable as its own CA
/// file), otherwise like make_node_certificate. Throws like make_ca.
pem_pair make_self_signed_certificate(const std::filesystem::path& dir, const std::string& name);

}  // namespace hearth::testing
