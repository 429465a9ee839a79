// Throwaway certificates with the openssl CLI. See pki.hpp.

#include "tests/support/pki.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace hearth::testing {
namespace {

std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// Runs the openssl command line `args` (stdout and stderr to `dir`/openssl.log).
void openssl(const std::filesystem::path& dir, const std::string& args) {
  auto log = dir / "openssl.log";
  auto cmd = "openssl " + args + " >" + quoted(log) + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream in(log);
    std::ostringstream out;
    out << in.rdbuf();
    throw std::runtime_error("openssl " + args + " failed: " + out.str());
  }
}

const char* kNewKey = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

// The extensions of a node certificate: it dials (client) and accepts (server).
std::filesystem::path node_extensions(const std::filesystem::path& dir) {
  auto path = dir / "node.ext";
  std::ofstream(path) << "basicConstraints=critical,CA:FALSE\n"
                         "keyUsage=critical,digitalSignature\n"
                         "extendedKeyUsage=serverAuth,clientAuth\n"
                         "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  return path;
}

}  // namespace

pem_pair make_ca(const std::filesystem::path& dir, const std::string& name) {
  std::filesystem::create_directories(dir);
  pem_pair ca{dir / (name + ".pem"), dir / (name + ".key")};
  openssl(dir, std::string("req -x509 ") + kNewKey + " -days 1 -subj '/CN=" + name + "'" +
                   " -addext basicConstraints=critical,CA:TRUE" +
                   " -addext keyUsage=critical,keyCertSign,cRLSign -keyout " + quoted(ca.key) +
                   " -out " + quoted(ca.cert));
  return ca;
}

pem_pair make_node_certificate(const std::filesystem::path& dir, const pem_pair& ca,
                               const std::string& name) {
  std::filesystem::create_directories(dir);
  pem_pair node{dir / (name + ".pem"), dir / (name + ".key")};
  auto csr = dir / (name + ".csr");
  openssl(dir, std::string("req -new ") + kNewKey + " -subj '/CN=" + name + "' -keyout " +
                   quoted(node.key) + " -out " + quoted(csr));
  openssl(dir, "x509 -req -days 1 -in " + quoted(csr) + " -CA " + quoted(ca.cert) + " -CAkey " +
                   quoted(ca.key) + " -CAcreateserial -CAserial " + quoted(dir / "ca.srl") +
                   " -extfile " + quoted(node_extensions(dir)) + " -out " + quoted(node.cert));
  return node;
}

pem_pair make_self_signed_certificate(const std::filesystem::path& dir, const std::string& name) {
  std::filesystem::create_directories(dir);
  pem_pair node{dir / (name + ".pem"), dir / (name + ".key")};
  // -x509 with the node extensions: CA:FALSE, so it verifies only itself
  // (OpenSSL accepts a self-signed leaf as its own trust anchor).
  openssl(dir, std::string("req -x509 ") + kNewKey + " -days 1 -subj '/CN=" + name + "'" +
                   " -addext basicConstraints=critical,CA:FALSE" +
                   " -addext keyUsage=critical,digitalSignature,keyCertSign" +
                   " -addext extendedKeyUsage=serverAuth,clientAuth" +
                   " -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
                   quoted(node.key) + " -out " + quoted(node.cert));
  return node;
}

}  // namespace hearth::testing
