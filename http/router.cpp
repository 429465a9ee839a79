#include "http/router.hpp"

#include <stdexcept>

namespace hearth::http {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (!path.empty()) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool router::has(std::string_view method, std::string_view pattern) const {
  for (const auto& r : routes_)
    if (r->method == method && r->pattern == pattern) return true;
  return false;
}

void router::add(route r) {
  if (r.pattern.empty() || r.pattern.front() != '/')
    throw std::invalid_argument("route pattern must start with '/': " + r.pattern);
  node* n = &root_;
  auto segs = split_path(r.pattern);
  for (std::size_t i = 0; i < segs.size(); ++i) {
    auto seg = segs[i];
    if (seg.size() > 5 && seg.front() == '{' && seg.substr(seg.size() - 4) == "...}") {
      if (i + 1 != segs.size())
        throw std::invalid_argument("a {name...} segment must be the last: " + r.pattern);
      std::string name(seg.substr(1, seg.size() - 5));
      if (!n->rest_child) {
        n->rest_child = std::make_unique<node>();
        n->rest_child->rest = true;
        n->rest_name = name;
      } else if (n->rest_name != name) {
        throw std::invalid_argument("conflicting parameter names at " + r.pattern);
      }
      n = n->rest_child.get();
    } else if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      std::string name(seg.substr(1, seg.size() - 2));
      if (!n->param_child) {
        n->param_child = std::make_unique<node>();
        n->param_name = name;
      } else if (n->param_name != name) {
        throw std::invalid_argument("conflicting parameter names at " + r.pattern);
      }
      n = n->param_child.get();
    } else {
      auto it = n->children.find(seg);
      if (it == n->children.end())
        it = n->children.emplace(std::string(seg), std::make_unique<node>()).first;
      n = it->second.get();
    }
  }
  if (n->methods.count(r.method))
    throw std::invalid_argument("duplicate route " + r.method + " " + r.pattern);
  routes_.push_back(std::make_unique<route>(std::move(r)));
  n->methods[routes_.back()->method] = routes_.back().get();
}

const router::node* router::walk(const node* n, const std::vector<std::string_view>& segs,
                                 std::size_t i, std::map<std::string, std::string>& params) const {
  if (i == segs.size()) return n->methods.empty() ? nullptr : n;
  if (auto it = n->children.find(segs[i]); it != n->children.end())
    if (auto found = walk(it->second.get(), segs, i + 1, params)) return found;
  if (n->param_child && !segs[i].empty()) {
    if (auto found = walk(n->param_child.get(), segs, i + 1, params)) {
      params.emplace(n->param_name, std::string(segs[i]));
      return found;
    }
  }
  if (n->rest_child && !n->rest_child->methods.empty()) {
    std::string rest;
    for (std::size_t j = i; j < segs.size(); ++j) {
      if (j > i) rest += '/';
      rest += segs[j];
    }
    params.emplace(n->rest_name, std::move(rest));
    return n->rest_child.get();
  }
  return nullptr;
}

router::match router::find(std::string_view method, std::string_view path) const {
  match m;
  const node* n = walk(&root_, split_path(path), 0, m.params);
  if (!n) {
    m.params.clear();
    return m;
  }
  auto it = n->methods.find(std::string(method));
  // HEAD is answered like GET by the engine (without the body).
  if (it == n->methods.end() && method == "HEAD") it = n->methods.find("GET");
  if (it != n->methods.end()) {
    m.result = outcome::found;
    m.matched = it->second;
    return m;
  }
  m.params.clear();
  if (n->rest) return m;  // a catch-all answers its own methods only: 404
  m.result = outcome::method_not_allowed;
  for (const auto& [verb, r] : n->methods) m.allow += (m.allow.empty() ? "" : ", ") + verb;
  return m;
}

}  // namespace hearth::http
