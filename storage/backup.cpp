#include "storage/backup.hpp"

#include <fmt/format.h>

#include <regex>

namespace hearth::storage {
namespace {

constexpr const char* kServerVersion = "SELECT current_setting('server_version_num')::int";
constexpr const char* kPublicRelations =
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'S', 'p')";
constexpr const char* kMoveSeqs = "UPDATE auth_household SET event_seq = event_seq + $1";
// Terms go up by one per election, a few a second at most: the clock's
// seconds are beyond any term reached by elections, and a later restore's
// are beyond this one's.
constexpr const char* kMoveTerm =
    "UPDATE cluster_leader SET term = greatest(term + 1, extract(epoch FROM now())::bigint) "
    "WHERE id = 1 RETURNING term";
constexpr const char* kForgetNodes = "DELETE FROM cluster_node";

}  // namespace

int server_major(pqxx::connection_base& conn) {
  pqxx::nontransaction tx{conn};
  return tx.exec1(kServerVersion)[0].as<int>() / 10000;
}

int postgres_major_of(const std::string& version_text) {
  static const std::regex re(R"(\(PostgreSQL\)\s+(\d+))");
  std::smatch m;
  if (!std::regex_search(version_text, m, re)) return 0;
  return std::stoi(m[1].str());
}

std::optional<std::string> dump_refusal(int server, int tool) {
  if (tool <= 0) return "cannot tell pg_dump's version";
  if (server > tool)
    return fmt::format(
        "the server is PostgreSQL {} and pg_dump is {}: a pg_dump older than the server cannot "
        "back it up; install postgresql-client-{} (or set postgresBinDir)",
        server, tool, server);
  return std::nullopt;
}

bool database_is_empty(pqxx::connection_base& conn) {
  pqxx::nontransaction tx{conn};
  return tx.exec1(kPublicRelations)[0].as<std::int64_t>() == 0;
}

restore_fixups after_restore(pqxx::connection_base& conn) {
  pqxx::work tx{conn};
  restore_fixups out;
  out.households =
      static_cast<std::int64_t>(tx.exec_params0(kMoveSeqs, kRestoreSeqGap).affected_rows());
  auto term = tx.exec(kMoveTerm);
  if (!term.empty()) out.term = term[0][0].as<std::int64_t>();
  tx.exec0(kForgetNodes);
  tx.commit();
  return out;
}

}  // namespace hearth::storage
