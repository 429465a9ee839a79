// Mutual TLS on cluster links (actors/cluster_tls.hpp): nodes with
// certificates from the cluster CA link and carry events; a node with a
// self-signed certificate, a plaintext node and bare CAF peers (plaintext,
// TLS without a certificate, TLS with a self-signed one) get no link; a
// partial or inconsistent TLS setting stops start-up. Certificates are made
// at test time with the openssl CLI (tests/support/pki.hpp). Every wait is a
// poll with a deadline.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "tests/integration/fixture.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/pki.hpp"
#include "tests/support/throwaway_postgres.hpp"

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;

// A directory of the test's own certificates, removed at the end.
class temp_dir {
 public:
  temp_dir() {
    char templ[] = "/tmp/hcltlsXXXXXX";
    if (::mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void concatenate(const std::vector<std::filesystem::path>& parts, const std::filesystem::path& to) {
  std::ofstream out(to, std::ios::binary);
  for (const auto& p : parts) out << std::ifstream(p, std::ios::binary).rdbuf();
}

// How a bare CAF peer (no hearth, no database) dials a cluster port.
struct caf_peer {
  bool tls = false;
  std::string cert, key, ca;  // with tls; all empty: TLS without a certificate
};

// An actor system of its own for one dial.
struct caf_peer_config : caf::actor_system_config {
  explicit caf_peer_config(const caf_peer& p) {
    load<caf::io::middleman>();
    if (p.tls) load<caf::openssl::manager>();
    set("scheduler.max-threads", std::size_t{1});
    set("logger.verbosity", caf::atom("quiet"));
    openssl_certificate = p.cert;
    openssl_key = p.key;
    openssl_cafile = p.ca;
  }
};

// Asks the peer's middleman (TLS: CAF's OpenSSL module) to connect to the
// actor published on 127.0.0.1:`port`, as hearth's cluster actor dials.
// "" when a handle came back (the peer could now send and receive), else the
// error (10 s bound).
std::string caf_dial(const caf_peer& p, std::uint16_t port) {
  caf_peer_config cfg(p);
  caf::actor_system sys(cfg);
  auto mm = p.tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
  std::string result = "no answer";
  {
    caf::scoped_actor self{sys};
    self->request(mm, std::chrono::seconds(10), caf::connect_atom::value, std::string("127.0.0.1"),
                  port)
        .receive([&](const caf::node_id&, caf::strong_actor_ptr& ptr,
                     const std::set<std::string>&) { result = ptr ? "" : "no actor published"; },
                 [&](caf::error& err) { result = sys.render(err); });
  }
  return result;
}

class ClusterTLS : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && cluster_) {
      std::cerr << "---- cluster state ----\n" << cluster_->describe() << cluster_->log_tails(8000);
    }
    cluster_.reset();
  }

  void start(cluster_options o) { cluster_ = std::make_unique<test_cluster>(std::move(o)); }
  test_cluster& cluster() { return *cluster_; }

  test_user new_user(const std::string& name, const std::string& node) {
    http_client http(cluster().http_port(node));
    test_user u;
    u.email = unique_email(name);
    u.password = "correct horse " + name;
    u.name = name;
    require_status(
        http.request("POST", "/api/v1/auth/signup",
                     json::serialize(json::object{
                         {"emailAddress", u.email}, {"password", u.password}, {"name", name}})),
        201, "signup on " + node);
    auto signin = http.request(
        "POST", "/api/v1/auth/signin",
        json::serialize(json::object{{"emailAddress", u.email}, {"password", u.password}}));
    require_status(signin, 201, "signin on " + node);
    u.key = str(first_value(signin), "key");
    return u;
  }

  std::string create_household(const std::string& node, const std::string& key) {
    http_client http(cluster().http_port(node));
    auto res = http.request_as(key, "POST", "/api/v1/auth/households",
                               json::serialize(json::object{{"name", "TLS"}}));
    require_status(res, 201, "household on " + node);
    return str(first_value(res), "id");
  }

  std::string create_item(const std::string& node, const std::string& key, const std::string& hh,
                          const std::string& name) {
    http_client http(cluster().http_port(node));
    auto res =
        http.request_as(key, "POST", "/api/v1/shop/items",
                        json::serialize(json::object{{"authHouseholdID", hh}, {"name", name}}));
    require_status(res, 201, "item on " + node);
    return str(first_value(res), "id");
  }

  // hearth_cluster_events_forwarded_total of the node: events it sent to
  // linked peers, once per peer.
  double forwarded(const std::string& node) {
    http_client http(cluster().http_port(node));
    auto body = http.request("GET", "/metrics").body;
    const std::string name = "\nhearth_cluster_events_forwarded_total ";
    const auto at = body.find(name);
    if (at == std::string::npos) return -1;
    return std::stod(body.substr(at + name.size()));
  }

  // `a` and `b` both report their link to each other "up".
  bool pair_linked(const std::string& a, const std::string& b, std::chrono::milliseconds timeout) {
    return cluster().wait_health(a, timeout, [&](const cluster_view& h) {
      return h.link_to(b) == "up";
    }) && cluster().wait_health(b, timeout, [&](const cluster_view& h) {
      return h.link_to(a) == "up";
    });
  }

  temp_dir own_;  // the test's own certificates (outlive the nodes, which read them)
  std::unique_ptr<test_cluster> cluster_;
};

TEST_F(ClusterTLS, nodes_with_certificates_from_the_cluster_ca_link_and_carry_events) {
  cluster_options o;
  o.nodes = 2;
  o.tls = true;
  start(o);
  ASSERT_TRUE(cluster().wait_linked(20s)) << cluster().describe();
  for (const auto& [me, peer] : {std::pair{"node-a", "node-b"}, std::pair{"node-b", "node-a"}}) {
    auto h = cluster().health(me);
    EXPECT_EQ(h.transport, "tls") << h.raw;
    EXPECT_EQ(h.security_to(peer), "tls") << h.raw;
    EXPECT_NE(cluster().log(me).find("(mutual TLS)"), std::string::npos)
        << "no start-up line naming the transport";
  }

  auto user = new_user("mtls", "node-a");
  const auto hh = create_household("node-a", user.key);
  sse_recorder on_b(cluster().http_port("node-b"), user.key);
  const double before = forwarded("node-a");
  const auto id = create_item("node-a", user.key, hh, "over tls");
  ASSERT_TRUE(on_b.wait_changes(1, 10s)) << "node-b's stream got no event written on node-a";
  EXPECT_EQ(on_b.changes().front().row_id, id);
  // It crossed the link: node-a sent it to its one peer.
  EXPECT_TRUE(eventually([&] { return forwarded("node-a") >= before + 1; }, 5s))
      << "node-a forwarded nothing (before " << before << ", now " << forwarded("node-a") << ")";
  // A TLS node stops cleanly (its TLS middleman ends with it).
  EXPECT_EQ(cluster().terminate("node-b"), 0);
}

TEST_F(ClusterTLS, a_node_with_a_self_signed_certificate_gets_no_link_either_way) {
  // node-b is the rogue: its certificate is self-signed, and it trusts both
  // the cluster CA and itself, so the refusal in each direction comes from
  // the cluster's nodes. Dials go from the lower id: node-a → node-b (node-a
  // refuses the rogue as a server) and node-b → node-c (node-c refuses it as
  // a client); node-a → node-c is the control.
  auto ca = make_ca(own_.path(), "cluster-ca");
  auto rogue = make_self_signed_certificate(own_.path(), "node-b");
  const auto rogue_trust = own_.path() / "rogue-trust.pem";
  concatenate({ca.cert, rogue.cert}, rogue_trust);
  cluster_options o;
  o.nodes = 3;
  o.tls = true;
  o.tls_ca = ca;
  o.node_env["node-b"] = {{"HEARTH_CLUSTER_TLS_CERT", rogue.cert.string()},
                          {"HEARTH_CLUSTER_TLS_KEY", rogue.key.string()},
                          {"HEARTH_CLUSTER_TLS_CA", rogue_trust.string()}};
  start(o);

  ASSERT_TRUE(pair_linked("node-a", "node-c", 20s)) << cluster().describe();
  // Both directions were tried and failed in the handshake.
  EXPECT_TRUE(cluster().wait_log("node-a", "TLS handshake with node-b", 20s))
      << "node-a never failed a handshake with the rogue";
  EXPECT_TRUE(cluster().wait_log("node-b", "TLS handshake with node-c", 20s))
      << "the rogue never failed a handshake with node-c";
  for (const auto& good : {"node-a", "node-c"}) {
    auto h = cluster().health(good);
    EXPECT_NE(h.link_to("node-b"), "up") << h.raw;
    EXPECT_EQ(h.security_to("node-b"), "tls") << h.raw;
  }
  auto r = cluster().health("node-b");
  EXPECT_EQ(r.transport, "tls") << r.raw;
  EXPECT_NE(r.link_to("node-a"), "up") << r.raw;
  EXPECT_NE(r.link_to("node-c"), "up") << r.raw;

  // Events flow between the good nodes and are sent to no one else: one
  // write on node-a is forwarded once (to node-c), and a write on the rogue
  // leaves it with nobody to send to.
  auto user = new_user("rogue", "node-a");
  const auto hh = create_household("node-a", user.key);
  sse_recorder on_c(cluster().http_port("node-c"), user.key);
  const double a_before = forwarded("node-a");
  create_item("node-a", user.key, hh, "good");
  ASSERT_TRUE(on_c.wait_changes(1, 10s)) << "node-c got no event written on node-a";
  EXPECT_TRUE(eventually([&] { return forwarded("node-a") >= a_before + 1; }, 5s));
  EXPECT_EQ(forwarded("node-a"), a_before + 1) << "node-a forwarded to more than node-c";
  create_item("node-b", user.key, hh, "from the rogue");
  ASSERT_TRUE(on_c.wait_changes(2, 10s)) << "the shared database's event never reached node-c";
  EXPECT_EQ(forwarded("node-b"), 0) << "the rogue sent events to a peer";
  EXPECT_NE(cluster().health("node-b").link_to("node-c"), "up");
}

TEST_F(ClusterTLS, a_plaintext_node_gets_no_link_with_tls_nodes_either_way) {
  // node-b runs plaintext links: node-a (TLS) dials it, it dials node-c (TLS).
  cluster_options o;
  o.nodes = 3;
  o.tls = true;
  o.node_env["node-b"] = {{"HEARTH_CLUSTER_TLS_CERT", ""},
                          {"HEARTH_CLUSTER_TLS_KEY", ""},
                          {"HEARTH_CLUSTER_TLS_CA", ""}};
  start(o);

  ASSERT_TRUE(pair_linked("node-a", "node-c", 20s)) << cluster().describe();
  EXPECT_TRUE(cluster().wait_log("node-a", "TLS handshake with node-b", 20s))
      << "node-a never failed a handshake with the plaintext node";
  EXPECT_TRUE(cluster().wait_log("node-b", "cluster: cannot reach node-c", 20s))
      << "the plaintext node never failed to reach node-c";
  // The plaintext node says so at warn (not only at debug): its dial
  // failed, and node-a, which dials it, stays unlinked while alive.
  EXPECT_TRUE(cluster().wait_log("node-b", "warn cluster: cannot link with node-c", 20s))
      << "the plaintext node never warned about its failed dial";
  EXPECT_TRUE(cluster().wait_log("node-b",
                                 "is alive (its database heartbeat is fresh) but not linked", 30s))
      << "the plaintext node never warned that a live peer stays unlinked";
  EXPECT_NE(cluster().log("node-b").find("cluster: node-a at "), std::string::npos)
      << "node-a (which dials node-b) is not named unlinked";
  auto b = cluster().health("node-b");
  EXPECT_EQ(b.transport, "plaintext") << b.raw;
  EXPECT_EQ(b.security_to("node-c"), "plaintext") << b.raw;
  EXPECT_NE(b.link_to("node-a"), "up") << b.raw;
  EXPECT_NE(b.link_to("node-c"), "up") << b.raw;
  for (const auto& good : {"node-a", "node-c"}) {
    auto h = cluster().health(good);
    EXPECT_EQ(h.transport, "tls") << h.raw;
    EXPECT_NE(h.link_to("node-b"), "up") << h.raw;
  }
}

TEST_F(ClusterTLS, the_cluster_port_refuses_caf_peers_without_a_certificate_from_the_ca) {
  const auto& dir = own_.path();
  auto ca = make_ca(dir, "cluster-ca");
  cluster_options o;
  o.nodes = 1;
  o.tls = true;
  o.tls_ca = ca;
  start(o);
  const auto port = cluster().cluster_port("node-a");
  ASSERT_NE(port, 0);
  // The TLS peers below trust the cluster CA: only node-a's check of their
  // certificate can stop them.
  auto self_signed = make_self_signed_certificate(dir, "intruder");
  auto other_ca = make_ca(dir, "other-ca");
  auto other = make_node_certificate(dir / "other", other_ca, "other");
  const auto other_trust = dir / "other-trust.pem";
  concatenate({ca.cert, other_ca.cert}, other_trust);
  auto good = make_node_certificate(dir / "good", ca, "good");

  EXPECT_NE(caf_dial({false, "", "", ""}, port), "") << "a plaintext peer got the cluster actor";
  EXPECT_NE(caf_dial({true, "", "", ""}, port), "")
      << "a TLS peer without a certificate got the cluster actor";
  EXPECT_NE(
      caf_dial({true, self_signed.cert.string(), self_signed.key.string(), ca.cert.string()}, port),
      "")
      << "a peer with a self-signed certificate got the cluster actor";
  EXPECT_NE(caf_dial({true, other.cert.string(), other.key.string(), other_trust.string()}, port),
            "")
      << "a peer with a certificate from another CA got the cluster actor";
  // The control: a certificate from the cluster CA gets it.
  EXPECT_EQ(caf_dial({true, good.cert.string(), good.key.string(), ca.cert.string()}, port), "");
}

TEST_F(ClusterTLS, failed_handshakes_of_strangers_leave_the_links_up) {
  // CAF 0.17.6's own OpenSSL middleman leaves a failed handshake's errors in
  // OpenSSL's thread error queue, and the next would-block read on any link
  // of that thread then counts as a failure: one stranger dropped every link
  // (actors/tls_transport.hpp). The links must not notice strangers.
  const auto& dir = own_.path();
  auto ca = make_ca(dir, "cluster-ca");
  cluster_options o;
  o.nodes = 2;
  o.tls = true;
  o.tls_ca = ca;
  start(o);
  ASSERT_TRUE(cluster().wait_linked(20s)) << cluster().describe();
  auto self_signed = make_self_signed_certificate(dir, "intruder");
  const auto port_a = cluster().cluster_port("node-a");
  const auto port_b = cluster().cluster_port("node-b");
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(caf_dial({true, "", "", ""}, port_a), "");
    EXPECT_NE(
        caf_dial({true, self_signed.cert.string(), self_signed.key.string(), ca.cert.string()},
                 port_b),
        "");
    EXPECT_NE(caf_dial({false, "", "", ""}, port_a), "");
  }
  // An event written afterwards crosses the link, and it never dropped.
  auto user = new_user("stranger", "node-a");
  const auto hh = create_household("node-a", user.key);
  sse_recorder on_b(cluster().http_port("node-b"), user.key);
  const double before = forwarded("node-a");
  create_item("node-a", user.key, hh, "after strangers");
  ASSERT_TRUE(on_b.wait_changes(1, 10s));
  EXPECT_TRUE(eventually([&] { return forwarded("node-a") >= before + 1; }, 5s));
  for (const auto& [me, peer] : {std::pair{"node-a", "node-b"}, std::pair{"node-b", "node-a"}}) {
    EXPECT_EQ(cluster().log(me).find("lost link"), std::string::npos)
        << me << " lost its link while strangers knocked";
    EXPECT_EQ(cluster().health(me).link_to(peer), "up");
  }
}

TEST_F(ClusterTLS, a_partial_or_inconsistent_tls_setting_stops_start_up) {
  const auto& dir = own_.path();
  auto ca = make_ca(dir, "cluster-ca");
  auto node = make_node_certificate(dir / "node", ca, "node");
  auto stranger = make_self_signed_certificate(dir, "stranger");
  auto database = throwaway_postgres::shared().create_database();
  auto run = [&](std::map<std::string, std::string> env) {
    env["HEARTH_DATABASE_URL"] = database;
    env.emplace("HEARTH_CLUSTER_ADDR", "127.0.0.1:0");
    env["HEARTH_HTTP_ADDR"] = "127.0.0.1:0";
    return hearth_process::run(env, {"serve"});
  };

  auto [code, out] = run({{"HEARTH_CLUSTER_TLS_CERT", node.cert.string()},
                          {"HEARTH_CLUSTER_TLS_KEY", node.key.string()}});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("missing clusterTLSCA"), std::string::npos) << out;

  std::tie(code, out) = run({{"HEARTH_CLUSTER_TLS_CERT", stranger.cert.string()},
                             {"HEARTH_CLUSTER_TLS_KEY", stranger.key.string()},
                             {"HEARTH_CLUSTER_TLS_CA", ca.cert.string()}});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("is not a valid TLS server certificate under clusterTLSCA"), std::string::npos)
      << out;

  std::tie(code, out) = run({{"HEARTH_CLUSTER_TLS_CERT", node.cert.string()},
                             {"HEARTH_CLUSTER_TLS_KEY", stranger.key.string()},
                             {"HEARTH_CLUSTER_TLS_CA", ca.cert.string()}});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("is not the key of clusterTLSCert"), std::string::npos) << out;

  std::tie(code, out) = run({{"HEARTH_CLUSTER_TLS_CERT", node.cert.string()},
                             {"HEARTH_CLUSTER_TLS_KEY", node.key.string()},
                             {"HEARTH_CLUSTER_TLS_CA", (dir / "nowhere.pem").string()}});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("clusterTLSCA"), std::string::npos) << out;

  // Valid files but a cluster port in use: the start fails and the process
  // ends (the TLS middleman is stopped on that path too).
  const int taken = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(taken, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  ASSERT_EQ(::getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::tie(code, out) =
      run({{"HEARTH_CLUSTER_TLS_CERT", node.cert.string()},
           {"HEARTH_CLUSTER_TLS_KEY", node.key.string()},
           {"HEARTH_CLUSTER_TLS_CA", ca.cert.string()},
           {"HEARTH_CLUSTER_ADDR", "127.0.0.1:" + std::to_string(ntohs(addr.sin_port))}});
  ::close(taken);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("cannot listen for peers"), std::string::npos) << out;
}

}  // namespace
}  // namespace hearth::testing
