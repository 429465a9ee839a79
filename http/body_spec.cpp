#include "http/body_spec.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "http/json_input.hpp"

namespace hearth::http {

std::optional<std::string> body_fields::text(std::string_view name) const {
  auto it = texts_.find(name);
  if (it == texts_.end()) return std::nullopt;
  return it->second;
}

std::optional<bool> body_fields::flag(std::string_view name) const {
  auto it = flags_.find(name);
  if (it == flags_.end()) return std::nullopt;
  return it->second;
}

const std::string& body_fields::at(std::string_view name) const {
  auto it = texts_.find(name);
  if (it == texts_.end()) throw std::logic_error(fmt::format("body field {} was not read", name));
  return it->second;
}

body_fields body_spec::read(std::string_view body) const {
  json_object_reader in(body);
  body_fields out;
  for (const auto& f : fields) {
    switch (f.type) {
      case field_spec::kind::text:
        if (auto v = in.string(f.name, f.required, f.min, f.max)) out.texts_[f.name] = *v;
        break;
      case field_spec::kind::email:
        if (auto v = in.string(f.name, f.required, 3, 254)) {
          auto at = v->find('@');
          if (at == std::string::npos || at == 0 || at == v->size() - 1 ||
              v->find_first_of(" \t\r\n<>") != std::string::npos)
            throw input_error(fmt::format("{}: not an e-mail address", f.name));
          out.texts_[f.name] = *v;
        }
        break;
      case field_spec::kind::boolean:
        if (auto v = in.boolean(f.name, f.required)) out.flags_[f.name] = *v;
        break;
      case field_spec::kind::one_of:
        if (auto v = in.string(f.name, f.required, 1, 64)) {
          bool known = false;
          for (const auto& x : f.values) known = known || x == *v;
          if (!known)
            throw input_error(
                fmt::format("{}: must be one of {}", f.name, fmt::join(f.values, ", ")));
          out.texts_[f.name] = *v;
        }
        break;
    }
  }
  in.reject_unknown();
  if (out.texts_.size() + out.flags_.size() < min_fields) {
    std::vector<std::string> names;
    for (const auto& f : fields) names.push_back(f.name);
    throw input_error(fmt::format("request body: one of {} required", fmt::join(names, ", ")));
  }
  return out;
}

std::string body_spec::schema() const {
  boost::json::object props;
  boost::json::array required;
  for (const auto& f : fields) {
    boost::json::object p;
    switch (f.type) {
      case field_spec::kind::text:
        p["type"] = "string";
        if (f.min) p["minLength"] = f.min;
        if (f.max) p["maxLength"] = f.max;
        break;
      case field_spec::kind::email:
        p["type"] = "string";
        p["format"] = "email";
        p["minLength"] = 3;
        p["maxLength"] = 254;
        break;
      case field_spec::kind::boolean:
        p["type"] = "boolean";
        break;
      case field_spec::kind::one_of: {
        p["type"] = "string";
        boost::json::array values;
        for (const auto& v : f.values) values.emplace_back(v);
        p["enum"] = std::move(values);
        break;
      }
    }
    props[f.name] = std::move(p);
    if (f.required) required.emplace_back(f.name);
  }
  boost::json::object o{{"type", "object"}, {"additionalProperties", false}, {"properties", props}};
  if (!required.empty()) o["required"] = std::move(required);
  if (min_fields) o["minProperties"] = min_fields;
  return boost::json::serialize(o);
}

}  // namespace hearth::http
