#include "actors/cluster_tls.hpp"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>

#include "config/config.hpp"

namespace hearth::actors {
namespace {

// OpenSSL's queued errors as one line (and the queue cleared).
std::string openssl_errors() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// The PEM password callback: there is none.
int no_passphrase(char*, int, int, void*) { return 0; }

[[noreturn]] void fail(const std::string& what) {
  ERR_clear_error();
  throw config::config_error(what);
}

// The leaf of `ctx` verified against its trust store as a certificate for
// `purpose` (X509_PURPOSE_SSL_SERVER / _CLIENT): the check a peer makes.
void verify_own_certificate(SSL_CTX* ctx, int purpose, const char* role,
                            const cluster_tls_files& f) {
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx, &chain);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> store(X509_STORE_CTX_new(),
                                                                        X509_STORE_CTX_free);
  if (!store || X509_STORE_CTX_init(store.get(), SSL_CTX_get_cert_store(ctx), leaf, chain) != 1)
    fail("cluster TLS: cannot set up certificate verification: " + openssl_errors());
  X509_STORE_CTX_set_purpose(store.get(), purpose);
  if (X509_verify_cert(store.get()) != 1)
    fail(fmt::format(
        "clusterTLSCert {} is not a valid TLS {} certificate under clusterTLSCA {}: {} (peers "
        "would refuse this node)",
        f.cert, role, f.ca, X509_verify_cert_error_string(X509_STORE_CTX_get_error(store.get()))));
}

}  // namespace

cluster_tls_files cluster_tls_files::from_config(const config::config& cfg) {
  return {cfg.cluster_tls_cert, cfg.cluster_tls_key, cfg.cluster_tls_ca};
}

void check_cluster_tls(const cluster_tls_files& f) {
  if (!f.enabled()) return;
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
  if (!ctx) fail("cluster TLS: cannot create an OpenSSL context: " + openssl_errors());
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), f.cert.c_str()) != 1)
    fail(fmt::format("clusterTLSCert {}: not a readable PEM certificate chain: {}", f.cert,
                     openssl_errors()));
  // Read apart from the certificate, so that an unreadable key and a key of
  // another certificate get their own messages. No passphrase: CAF's
  // sessions are not given one (an encrypted key is refused, not prompted for).
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(nullptr, EVP_PKEY_free);
  if (std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_file(f.key.c_str(), "r"), BIO_free); in)
    key.reset(PEM_read_bio_PrivateKey(in.get(), nullptr, no_passphrase, nullptr));
  if (!key)
    fail(fmt::format("clusterTLSKey {}: not a readable unencrypted PEM private key: {}", f.key,
                     openssl_errors()));
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1)
    fail(fmt::format("clusterTLSKey {} is not the key of clusterTLSCert {}: {}", f.key, f.cert,
                     openssl_errors()));
  if (SSL_CTX_load_verify_locations(ctx.get(), f.ca.c_str(), nullptr) != 1)
    fail(fmt::format("clusterTLSCA {}: not a readable PEM CA certificate: {}", f.ca,
                     openssl_errors()));
  verify_own_certificate(ctx.get(), X509_PURPOSE_SSL_SERVER, "server", f);
  verify_own_certificate(ctx.get(), X509_PURPOSE_SSL_CLIENT, "client", f);
}

}  // namespace hearth::actors
