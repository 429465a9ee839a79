// hearth: serve | migrate | cluster status | dead-letters list|retry|discard | backup |
// restore | version.
// Configuration layers, lowest first: defaults < JSON file (--config) < environment (HEARTH_*) <
// flags.

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include "app/serve.hpp"
#include "config/config.hpp"

namespace {

hearth::config::config load(const std::string& config_file,
                            const std::map<std::string, std::string>& flags) {
  hearth::config::config cfg;
  if (!config_file.empty()) {
    std::ifstream in(config_file);
    if (!in) throw hearth::config::config_error("--config: cannot read " + config_file);
    std::stringstream text;
    text << in.rdbuf();
    hearth::config::apply_json(cfg, text.str(), config_file);
  }
  hearth::config::apply_env(cfg, hearth::config::process_env());
  hearth::config::apply_flags(cfg, flags);
  hearth::config::validate(cfg);
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "hearth: a clustered, actor-model backend for household apps (REST + SSE over PostgreSQL)"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string config_file;
  app.add_option("--config", config_file, "JSON configuration file");
  std::map<std::string, std::string> flag_values;
  std::vector<std::pair<std::string, std::string*>> bound;
  std::vector<std::unique_ptr<std::string>> storage;
  auto* serve = app.add_subcommand("serve", "run a node: REST + SSE on httpAddr");
  auto* migrate = app.add_subcommand("migrate", "apply pending database migrations and exit");
  // Every configuration key is a flag, before the subcommand or after
  // `serve`/`migrate` (whose --help lists them too), with its type and
  // default.
  for (const auto& k : hearth::config::keys()) {
    storage.push_back(std::make_unique<std::string>());
    const auto help = k.help + " (env " + k.env + ", JSON " + k.json + ")";
    for (auto* where : {&app, serve, migrate}) {
      where->add_option(k.flag, *storage.back(), help)
          ->type_name(k.type)
          ->default_str(k.default_value.empty() ? "\"\"" : k.default_value);
    }
    bound.emplace_back(k.flag, storage.back().get());
  }
  auto* version = app.add_subcommand("version", "print the version and exit");
  auto* cluster = app.add_subcommand("cluster", "cluster operations");
  cluster->require_subcommand(1);
  auto* cluster_status =
      cluster->add_subcommand("status", "print nodes, leader and term from the database");
  auto* dead = app.add_subcommand(
      "dead-letters", "Pub/Sub messages a subscription gave up on (docs/operations.md)");
  dead->require_subcommand(1);
  hearth::engine::dead_letter_filter dead_filter;
  std::vector<CLI::App*> dead_actions;
  for (const auto* action : {"list", "retry", "discard"}) {
    auto* a = dead->add_subcommand(
        action, std::string(action) == "list"    ? "list them, oldest first (at most 1 000)"
                : std::string(action) == "retry" ? "send them again as new messages"
                                                 : "delete them");
    a->add_option("--topic", dead_filter.topic, "only this topic's");
    a->add_option("--subscription", dead_filter.subscription, "only this subscription's");
    a->add_option("--message-id", dead_filter.message_id, "only the one with this message id")
        ->check(CLI::Range(std::int64_t{1}, std::numeric_limits<std::int64_t>::max()));
    dead_actions.push_back(a);
  }
  std::string backup_file, restore_file;
  bool restore_force = false;
  auto* backup = app.add_subcommand(
      "backup", "write a consistent backup of the database to FILE (pg_dump, custom format)");
  backup->add_option("FILE", backup_file, "where to write it")->required();
  auto* restore = app.add_subcommand(
      "restore", "restore a backup into an empty database (stop every node first)");
  restore->add_option("FILE", restore_file, "a file written by hearth backup")->required();
  restore->add_flag("--force", restore_force, "replace what the database holds");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ExtrasError& e) {
    // An unknown flag: CLI11's message, then the closest configuration flag.
    const int code = app.exit(e);
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0) continue;
      const auto name = arg.substr(0, arg.find('='));
      const auto hint = hearth::config::suggest_flag(name);
      if (!hint.empty() && hint != " (did you mean " + name + "?)")
        std::cerr << "hearth: unknown flag " << name << hint << "\n";
    }
    return code;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (version->parsed()) {
    std::cout << "hearth " << HEARTH_VERSION << "\n";
    return 0;
  }
  for (const auto& [flag, value] : bound)
    if (app.count(flag) + serve->count(flag) + migrate->count(flag) > 0) flag_values[flag] = *value;
  try {
    auto cfg = load(config_file, flag_values);
    if (serve->parsed()) {
      hearth::app::block_stop_signals();
      return hearth::app::serve(
          cfg, [&] { return load(config_file, flag_values); },
          std::vector<std::string>(argv, argv + argc));
    }
    if (migrate->parsed()) return hearth::app::migrate(cfg);
    if (cluster_status->parsed()) return hearth::app::cluster_status(cfg);
    if (backup->parsed()) return hearth::app::backup(cfg, backup_file);
    if (restore->parsed()) return hearth::app::restore(cfg, restore_file, restore_force);
    for (auto* a : dead_actions)
      if (a->parsed()) return hearth::app::dead_letters(cfg, a->get_name(), dead_filter);
  } catch (const hearth::config::config_error& e) {
    std::cerr << "hearth: configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hearth: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
