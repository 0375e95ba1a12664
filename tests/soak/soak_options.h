// `--name=value` / `--name value` flags of the soak and overload drivers (numbers only).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace dllm::soak {

class SoakOptions {
 public:
  // `defaults` names every flag the driver takes; anything else is an error (false).
  SoakOptions(std::map<std::string, double> defaults) : values_(std::move(defaults)) {}

  bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0) return fail("unexpected argument " + arg);
      std::string name = arg.substr(2), value;
      if (const size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      }
      if (name == "help") return fail("");
      if (!values_.count(name)) return fail("unknown flag --" + name);
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0') return fail("--" + name + " needs a number");
      values_[name] = v;
    }
    return true;
  }
  double get(const std::string& name) const { return values_.at(name); }
  int get_int(const std::string& name) const { return static_cast<int>(values_.at(name)); }

 private:
  bool fail(const std::string& why) {
    if (!why.empty()) std::fprintf(stderr, "%s\n", why.c_str());
    std::fprintf(stderr, "flags (defaults):");
    for (const auto& [name, v] : values_) std::fprintf(stderr, " --%s=%g", name.c_str(), v);
    std::fprintf(stderr, "\n");
    return false;
  }
  std::map<std::string, double> values_;
};

}  // namespace dllm::soak
