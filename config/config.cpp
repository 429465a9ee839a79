#include "config/config.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>

#include "config/keys.hpp"

extern char** environ;

namespace hearth::config {

const config& defaults() {
  static const config d{};
  return d;
}

namespace {

using detail::entry;
using detail::kind;
using detail::table;

// `where` names the setting as the operator gave it: "environment
// HEARTH_HTTP_THREADS", "flag --http-threads", "hearth.json: httpThreads".
void set_from_text(config& cfg, const entry& e, const std::string& text, const std::string& where) {
  if (e.type == kind::text) {
    e.set(cfg, text, 0);
    return;
  }
  if (e.type == kind::boolean) {
    if (text != "true" && text != "false" && text != "1" && text != "0")
      throw config_error(fmt::format("{} must be true or false, got \"{}\"", where, text));
    e.set(cfg, text, text == "true" || text == "1" ? 1 : 0);
    return;
  }
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    throw config_error(fmt::format("{} must be an integer, got \"{}\"", where, text));
  if (v < e.min || v > e.max)
    throw config_error(fmt::format("{} must be between {} and {}, got {}", where, e.min, e.max, v));
  e.set(cfg, text, v);
}

// Levenshtein distance, case-insensitive (names differ in case between
// the JSON keys people remember and type).
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean X?)" for the closest known name of that kind (json, env
// or flag), when it is close; "" otherwise.
std::string did_you_mean(std::string key_info::*field, std::string_view name) {
  const entry* best = nullptr;
  std::size_t best_distance = std::string::npos;
  for (const auto& e : table()) {
    const auto d = distance(name, e.info.*field);
    if (d < best_distance) {
      best = &e;
      best_distance = d;
    }
  }
  if (!best || best_distance > std::max<std::size_t>(2, name.size() / 4)) return "";
  return fmt::format(" (did you mean {}?)", best->info.*field);
}

// The entry whose key name `field` (json, env or flag) is `name`, or nullptr.
const entry* find_entry(std::string key_info::*field, std::string_view name) {
  for (const auto& e : table())
    if (e.info.*field == name) return &e;
  return nullptr;
}

}  // namespace

const std::vector<key_info>& keys() {
  static const std::vector<key_info> all = [] {
    std::vector<key_info> out;
    const config defaults;
    for (const auto& e : table()) {
      auto info = e.info;
      info.type = e.type == kind::integer ? "INT" : e.type == kind::boolean ? "BOOL" : "TEXT";
      info.default_value = e.get(defaults);
      out.push_back(std::move(info));
    }
    return out;
  }();
  return all;
}

std::string suggest_flag(std::string_view flag) { return did_you_mean(&key_info::flag, flag); }

void apply_json(config& cfg, const std::string& json_text, const std::string& source) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(json_text).get(root))
    throw config_error(
        fmt::format("{}: not valid JSON ({})", source, simdjson::error_message(err)));
  simdjson::dom::object obj;
  if (root.get(obj)) throw config_error(fmt::format("{}: must be a JSON object", source));
  for (auto [key, value] : obj) {
    const entry* found = find_entry(&key_info::json, key);
    if (!found)
      throw config_error(fmt::format("{}: unknown key \"{}\"{}", source, std::string(key),
                                     did_you_mean(&key_info::json, key)));
    const auto where = fmt::format("{}: {}", source, found->info.json);
    if (found->type == kind::text) {
      std::string_view s;
      if (value.get(s))
        throw config_error(fmt::format("{}: {} must be a string", source, found->info.json));
      if (s.find('\0') != std::string_view::npos)
        throw config_error(fmt::format("{}: {} must not contain the NUL character (\\u0000)",
                                       source, found->info.json));
      found->set(cfg, std::string(s), 0);
    } else if (found->type == kind::boolean) {
      bool b = false;
      if (value.get(b))
        throw config_error(fmt::format("{}: {} must be true or false", source, found->info.json));
      found->set(cfg, b ? "true" : "false", b ? 1 : 0);
    } else {
      std::int64_t v = 0;
      if (value.get(v))
        throw config_error(fmt::format("{}: {} must be an integer", source, found->info.json));
      set_from_text(cfg, *found, std::to_string(v), where);
    }
  }
}

void apply_env(config& cfg, const std::map<std::string, std::string>& env) {
  for (const auto& [name, value] : env) {
    if (name.rfind("HEARTH_", 0) != 0) continue;
    if (name.rfind("HEARTH_SECRET_", 0) == 0 && name.size() > 14) {
      cfg.secrets[name.substr(14)] = value;
      continue;
    }
    const entry* found = find_entry(&key_info::env, name);
    if (!found)
      throw config_error(fmt::format("environment: unknown variable {}{} (see hearth --help)", name,
                                     did_you_mean(&key_info::env, name)));
    set_from_text(cfg, *found, value, "environment " + name);
  }
}

std::optional<std::string> secret(const config& cfg, const std::string& name) {
  if (auto it = cfg.secrets.find(name); it != cfg.secrets.end()) return it->second;
  if (cfg.secrets_file.empty()) return std::nullopt;
  simdjson::padded_string text;
  if (simdjson::padded_string::load(cfg.secrets_file).get(text))
    throw config_error(fmt::format("secretsFile {}: cannot read it", cfg.secrets_file));
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(text).get(object))
    throw config_error(fmt::format("secretsFile {}: not a JSON object", cfg.secrets_file));
  simdjson::dom::element value;
  if (object[name].get(value)) return std::nullopt;
  std::string_view s;
  if (value.get(s))
    throw config_error(fmt::format("secretsFile {}: {} must be a string", cfg.secrets_file, name));
  if (s.find('\0') != std::string_view::npos)
    throw config_error(fmt::format("secretsFile {}: {} must not contain the NUL character",
                                   cfg.secrets_file, name));
  return std::string(s);
}

void apply_flags(config& cfg, const std::map<std::string, std::string>& flags) {
  for (const auto& [flag, value] : flags) {
    const entry* found = find_entry(&key_info::flag, flag);
    if (!found)
      throw config_error(
          fmt::format("unknown flag {}{}", flag, did_you_mean(&key_info::flag, flag)));
    set_from_text(cfg, *found, value, "flag " + flag);
  }
}

namespace {

void check_host_port(const std::string& key, const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw config_error(fmt::format("{} must be host:port, got \"{}\"", key, addr));
  int port = -1;
  auto port_text = std::string_view(addr).substr(colon + 1);
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port < 0 || port > 65535)
    throw config_error(fmt::format("{}: bad port in \"{}\"", key, addr));
}

// Mutual TLS on cluster links needs all three files: a partial setting
// would leave links plaintext (or refuse every peer) by surprise.
void check_cluster_tls(const config& cfg) {
  const std::pair<const char*, const std::string*> keys[] = {
      {"clusterTLSCert", &cfg.cluster_tls_cert},
      {"clusterTLSKey", &cfg.cluster_tls_key},
      {"clusterTLSCA", &cfg.cluster_tls_ca}};
  std::string set, missing;
  for (const auto& [name, value] : keys) {
    auto& list = value->empty() ? missing : set;
    list += list.empty() ? name : std::string(", ") + name;
  }
  if (!set.empty() && !missing.empty())
    throw config_error(fmt::format(
        "cluster TLS needs clusterTLSCert, clusterTLSKey and clusterTLSCA together: {} set, "
        "missing {}",
        set, missing));
}

}  // namespace

std::pair<std::string, std::uint16_t> split_host_port(const std::string& addr) {
  check_host_port("address", addr);
  auto colon = addr.rfind(':');
  auto host = addr.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, static_cast<std::uint16_t>(std::stoi(addr.substr(colon + 1)))};
}

void validate(const config& cfg) {
  check_host_port("httpAddr", cfg.http_addr);
  check_host_port("clusterAddr", cfg.cluster_addr);
  if (!cfg.cluster_advertise_addr.empty())
    check_host_port("clusterAdvertiseAddr", cfg.cluster_advertise_addr);
  check_cluster_tls(cfg);
  if (cfg.tls_cert.empty() != cfg.tls_key.empty())
    throw config_error("tlsCert and tlsKey go together: set both or neither");
  if (cfg.cluster_stale_ms < 4 * cfg.cluster_heartbeat_ms)
    throw config_error(
        fmt::format("clusterStaleMs ({}) must be at least 4 x clusterHeartbeatMs ({})",
                    cfg.cluster_stale_ms, cfg.cluster_heartbeat_ms));
  static const std::vector<std::string> levels = {"debug", "info", "notice", "warn", "error"};
  if (std::find(levels.begin(), levels.end(), cfg.log_level) == levels.end())
    throw config_error(fmt::format(
        "logLevel must be one of debug|info|notice|warn|error, got \"{}\"", cfg.log_level));
  if (cfg.auth_max_retry_after_ms < cfg.auth_retry_after_ms)
    throw config_error(
        fmt::format("authMaxRetryAfterMs ({}) must be at least authRetryAfterMs ({})",
                    cfg.auth_max_retry_after_ms, cfg.auth_retry_after_ms));
  if (cfg.database_url.empty() && cfg.data_dir.empty())
    throw config_error("dataDir must not be empty when databaseURL is empty");
  if (!cfg.public_url.empty() && cfg.public_url.rfind("http://", 0) != 0 &&
      cfg.public_url.rfind("https://", 0) != 0)
    throw config_error(
        fmt::format("publicURL must start with http:// or https://, got \"{}\"", cfg.public_url));
  if (std::error_code ec; !cfg.web_dir.empty() && !std::filesystem::is_directory(cfg.web_dir, ec))
    throw config_error(fmt::format("webDir: {} is not a directory", cfg.web_dir));
}

std::map<std::string, std::string> process_env() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

}  // namespace hearth::config
