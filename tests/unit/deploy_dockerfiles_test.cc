// deploy/docker/Dockerfile.*: docker can not run here, so check what a build would trip on —
// every COPY source exists in the build context (and is not ignored) or in the stage it comes
// from, images are pinned, and the build stage runs CI's own install and build scripts.
#include <fnmatch.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace dllm {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot = DLLM_SOURCE_DIR;

struct Instruction {
  std::string keyword;  // upper case
  std::vector<std::string> args;
  std::string text;  // everything after the keyword
};

struct Stage {
  std::string name;
  std::string image;
  std::vector<Instruction> instructions;
};

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// ["a", "b"] → a, b; otherwise whitespace-separated words.
std::vector<std::string> instruction_args(const std::string& text) {
  const size_t open = text.find('[');
  if (open != std::string::npos && text.find_first_not_of(" \t") == open) {
    std::vector<std::string> out;
    for (size_t q = text.find('"'); q != std::string::npos; q = text.find('"', q)) {
      const size_t end = text.find('"', q + 1);
      out.push_back(text.substr(q + 1, end - q - 1));
      q = end + 1;
    }
    return out;
  }
  return words(text);
}

std::vector<Stage> parse_dockerfile(const fs::path& path) {
  std::ifstream in(path);
  std::vector<Stage> stages;
  std::string logical, line;
  auto flush = [&] {
    const size_t start = logical.find_first_not_of(" \t");
    if (start == std::string::npos) return;
    const size_t space = logical.find_first_of(" \t", start);
    Instruction ins;
    ins.keyword = logical.substr(start, space - start);
    for (char& c : ins.keyword) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ins.text = space == std::string::npos ? "" : logical.substr(space + 1);
    ins.args = instruction_args(ins.text);
    if (ins.keyword == "FROM") {
      Stage s;
      s.image = ins.args.empty() ? "" : ins.args[0];
      if (ins.args.size() >= 3) s.name = ins.args[2];
      stages.push_back(s);
    } else if (!stages.empty()) {
      stages.back().instructions.push_back(ins);
    }
    logical.clear();
  };
  while (std::getline(in, line)) {
    const size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '#') continue;  // comments, directives
    if (!line.empty() && line.back() == '\\') {
      logical += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    logical += line;
    flush();
  }
  flush();
  return stages;
}

std::vector<std::string> ignore_patterns(const fs::path& dockerfile) {
  std::vector<std::string> out;
  std::ifstream in(dockerfile.string() + ".dockerignore");
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    while (!line.empty() && line.back() == '/') line.pop_back();
    out.push_back(line);
  }
  return out;
}

// Whether `path` (relative to the context) or a folder above it matches a .dockerignore line.
bool ignored(const std::string& path, const std::vector<std::string>& patterns) {
  for (std::string prefix = path;; prefix = fs::path(prefix).parent_path().string()) {
    for (const std::string& p : patterns) {
      const bool any_depth = p.rfind("**/", 0) == 0;
      const std::string tail = any_depth ? p.substr(3) : p;
      const std::string name = any_depth ? fs::path(prefix).filename().string() : prefix;
      if (fnmatch(tail.c_str(), name.c_str(), FNM_PATHNAME) == 0) return true;
    }
    if (prefix.find('/') == std::string::npos) return false;
  }
}

std::vector<fs::path> dockerfiles() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kRoot / "deploy" / "docker")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("Dockerfile", 0) == 0 && e.path().extension() != ".dockerignore") {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(DeployDockerfilesTest, CpuAndCudaVariantsExist) {
  std::vector<std::string> names;
  for (const fs::path& f : dockerfiles()) names.push_back(f.filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"Dockerfile.cpu", "Dockerfile.cuda"}));
}

TEST(DeployDockerfilesTest, EveryCopySourceExists) {
  for (const fs::path& file : dockerfiles()) {
    const std::string df = file.filename().string();
    const std::vector<Stage> stages = parse_dockerfile(file);
    ASSERT_GE(stages.size(), 2u) << df << " is not multi-stage";
    const std::vector<std::string> patterns = ignore_patterns(file);
    std::map<std::string, const Stage*> by_name;
    int copies = 0;
    for (const Stage& stage : stages) {
      for (const Instruction& ins : stage.instructions) {
        if (ins.keyword != "COPY" && ins.keyword != "ADD") continue;
        std::string from;
        std::vector<std::string> paths;
        for (const std::string& a : ins.args) {
          if (a.rfind("--from=", 0) == 0) {
            from = a.substr(7);
          } else if (a.rfind("--", 0) != 0) {
            paths.push_back(a);
          }
        }
        ASSERT_GE(paths.size(), 2u) << df << ": " << ins.keyword << " " << ins.text;
        paths.pop_back();  // the destination
        for (std::string src : paths) {
          ++copies;
          if (src.rfind("https://", 0) == 0) continue;  // ADD of a download
          if (!from.empty()) {
            // From an earlier stage: that stage must create the path.
            ASSERT_EQ(by_name.count(from), 1u) << df << ": no stage " << from << " before " << src;
            while (src.size() > 1 && src.back() == '/') src.pop_back();
            bool made = false;
            for (const Instruction& earlier : by_name[from]->instructions) {
              made = made || earlier.text.find(src) != std::string::npos;
            }
            EXPECT_TRUE(made) << df << ": stage " << from << " never creates " << src;
            continue;
          }
          while (src.size() > 1 && src.back() == '/') src.pop_back();
          EXPECT_TRUE(fs::exists(kRoot / src)) << df << ": COPY source " << src << " is missing";
          if (src != ".") {
            EXPECT_FALSE(ignored(src, patterns)) << df << ": " << src << " is ignored";
          }
        }
      }
      if (!stage.name.empty()) by_name[stage.name] = &stage;
    }
    EXPECT_GT(copies, 0) << df;
  }
}

TEST(DeployDockerfilesTest, BuildStageRunsCiScripts) {
  for (const fs::path& file : dockerfiles()) {
    const std::string df = file.filename().string();
    const std::vector<Stage> stages = parse_dockerfile(file);
    const Stage* build = nullptr;
    for (const Stage& s : stages) {
      if (s.name == "build") build = &s;
      // Pinned base images: a tag, and not "latest".
      const size_t colon = s.image.rfind(':');
      EXPECT_TRUE(colon != std::string::npos && colon > s.image.rfind('/') + 1 &&
                  s.image.substr(colon) != ":latest")
          << df << ": unpinned image " << s.image;
    }
    ASSERT_NE(build, nullptr) << df << " has no stage named build";
    bool installs = false, builds = false;
    for (const Instruction& ins : build->instructions) {
      if (ins.keyword != "RUN") continue;
      installs = installs || ins.text.find("tools/install-deps.sh") != std::string::npos;
      builds = builds || ins.text.find("tools/build.sh") != std::string::npos;
    }
    EXPECT_TRUE(installs) << df << ": the build stage must run tools/install-deps.sh";
    EXPECT_TRUE(builds) << df << ": the build stage must run tools/build.sh";
  }
  // ... which are what CI runs.
  std::ifstream ci(kRoot / "tools" / "test.sh");
  std::stringstream s;
  s << ci.rdbuf();
  EXPECT_NE(s.str().find("tools/install-deps.sh"), std::string::npos);
  EXPECT_NE(s.str().find("tools/build.sh"), std::string::npos);
}

TEST(DeployDockerfilesTest, IgnorePatternsMatchBuildTrees) {
  const std::vector<std::string> patterns = {"build*", ".git", "**/__pycache__"};
  EXPECT_TRUE(ignored("build-cpu/bin/dllm", patterns));
  EXPECT_TRUE(ignored("tools/data/__pycache__/x.pyc", patterns));
  EXPECT_FALSE(ignored("models/llada-tiny", patterns));
  EXPECT_FALSE(ignored("tools/build.sh", patterns));
}

}  // namespace
}  // namespace dllm
