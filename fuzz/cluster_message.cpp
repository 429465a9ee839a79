// Fuzzes the decoding of what a peer node sends over the cluster link.
//
// Peers talk CAF's BASP (actors/cluster.hpp: the middleman on clusterAddr).
// hearth has no decoder of its own: a BASP payload is decoded by CAF's
// binary_deserializer into the forwarding stack and a caf::message, whose
// elements are built by name from the actor system's type registry; for
// hearth's own types (actors/messages.hpp add_cluster_message_types:
// change_event, event_list) that runs their inspect(). This harness decodes
// the fuzz input as a payload exactly as CAF's basp::remote_message_handler
// does (direct and routed messages), in an actor system configured like a
// node's (middleman loaded, hearth's types registered), and also directly
// into each hearth type that has an inspect() (actors/messages.hpp).
//
// The first input byte picks the target. Invariants: decoding fails with an
// error or yields a value that re-encodes and decodes to the same bytes. A
// decoded message is not rendered as text: CAF cannot render every value
// it decodes (see payload()), so hearth's actors never do.

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/scoped_execution_unit.hpp>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "actors/messages.hpp"
#include "check.hpp"

namespace {

using namespace hearth;

// Proxies of remote actors named in a payload: none is created (a real node
// makes a forwarding proxy through its BASP broker; here the handle stays null).
struct no_proxies : caf::proxy_registry::backend {
  caf::strong_actor_ptr make_proxy(caf::node_id, caf::actor_id) override { return nullptr; }
  void set_last_hop(caf::node_id*) override {}
};

struct node {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  node() {
    cfg.set("scheduler.max-threads", std::size_t{1});
    cfg.set("scheduler.policy", caf::atom("sharing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    cfg.load<caf::io::middleman>();
    actors::add_cluster_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

// One system for the whole run, never destroyed: libFuzzer ends the process
// with exit() from its own thread while CAF's threads still run, and
// destroying the system then crashes in CAF's shutdown.
caf::actor_system& node_system() {
  static node* n = new node;
  return *n->sys;
}

// Decodes a T from `bytes`; when that works, T must re-encode and decode to
// the same bytes.
template <class T>
void roundtrip(caf::execution_unit* ctx, const char* bytes, std::size_t size) {
  T x{};
  caf::binary_deserializer source{ctx, bytes, size};
  if (source(x)) return;
  std::vector<char> once;
  caf::binary_serializer sink{ctx, once};
  FUZZ_CHECK(!sink(x));
  T y{};
  caf::binary_deserializer again{ctx, once};
  FUZZ_CHECK(!again(y));
  std::vector<char> twice;
  caf::binary_serializer sink2{ctx, twice};
  FUZZ_CHECK(!sink2(y));
  FUZZ_CHECK(once == twice);
}

// A BASP direct_message (routed: with the source and destination nodes
// first) payload: the forwarding stack, then the message.
void payload(caf::execution_unit* ctx, const char* bytes, std::size_t size, bool routed) {
  caf::binary_deserializer source{ctx, bytes, size};
  if (routed) {
    caf::node_id src, dst;
    if (source(src, dst)) return;
  }
  std::vector<caf::strong_actor_ptr> stages;
  caf::message msg;
  try {
    if (source(stages, msg)) return;
  } catch (const std::runtime_error&) {
    // CAF 0.17.6 throws, instead of returning an error, while decoding a
    // caf::config_value whose type index is out of range (this harness's
    // finding; corpus/cluster_message/config-value-invalid-type). In a node
    // the throw ends the process: only trusted peers may reach clusterAddr
    // (cluster TLS, docs/security.md). Caught here so that fuzzing goes on
    // past this known CAF defect.
    return;
  }
  // Not caf::to_string(msg): CAF 0.17.6 crashes stringifying a decoded
  // caf::duration with an invalid time unit (this harness's finding;
  // corpus/cluster_message/duration-invalid-unit). hearth never prints a
  // peer's values: its actors drop unexpected messages with
  // engine::drop_unexpected instead of CAF's print_and_drop.
  (void)msg.type_token();
  (void)msg.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto& sys = node_system();
  no_proxies backend;
  caf::proxy_registry proxies{sys, backend};
  caf::scoped_execution_unit ctx{&sys};
  ctx.proxy_registry_ptr(&proxies);
  const auto* bytes = reinterpret_cast<const char*>(data + 1);
  const auto n = size - 1;
  switch (data[0] % 8) {
    case 0:
      payload(&ctx, bytes, n, false);
      break;
    case 1:
      payload(&ctx, bytes, n, true);
      break;
    case 2:
      roundtrip<storage::change_event>(&ctx, bytes, n);
      break;
    case 3:
      roundtrip<actors::event_list>(&ctx, bytes, n);
      break;
    case 4:
      roundtrip<storage::node_row>(&ctx, bytes, n);
      break;
    case 5:
      roundtrip<std::vector<storage::node_row>>(&ctx, bytes, n);
      break;
    case 6:
      roundtrip<http::stream_ref>(&ctx, bytes, n);
      break;
    default:
      roundtrip<actors::head_list>(&ctx, bytes, n);
      break;
  }
  return 0;
}
