// The soak request mix and its reference answers.
#include "tests/soak/request_mix.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/integration/serving_process.h"

namespace dllm::soak {
namespace {

// Deterministic ids away from the special tokens of the bundled model (EOS 490, mask 500).
std::vector<int> prompt_ids(int length, int salt) {
  std::vector<int> ids;
  for (int i = 0; i < length; ++i) ids.push_back(10 + (i * 37 + salt * 101 + i * i) % 460);
  return ids;
}

struct Gen {
  int length, block, steps;
  double temperature = 0;
  uint64_t seed = 0;
  const char* cache = "";  // "" | "prefix" | "dual"
};

void set_gen(const Gen& g, v1::GenerateRequest* r, std::string* flags) {
  r->mutable_params()->set_gen_length(g.length);
  r->mutable_params()->set_block_length(g.block);
  r->mutable_params()->set_steps(g.steps);
  absl::StrAppend(flags, " --gen-length ", g.length, " --block-length ", g.block, " --steps ",
                  g.steps);
  if (g.temperature > 0) {
    r->mutable_params()->set_temperature(g.temperature);
    r->mutable_params()->set_seed(g.seed);
    absl::StrAppend(flags, " --temperature ", g.temperature, " --seed ", g.seed);
  }
  if (std::string(g.cache) == "prefix") {
    r->mutable_params()->set_cache(v1::CACHE_MODE_PREFIX);
    absl::StrAppend(flags, " --cache prefix");
  } else if (std::string(g.cache) == "dual") {
    r->mutable_params()->set_cache(v1::CACHE_MODE_DUAL);
    absl::StrAppend(flags, " --cache dual");
  }
}

RequestShape dense_ids(int length, int salt, Gen g, int weight) {
  RequestShape s;
  s.name = absl::StrCat("dense ids len ", length, " gen ", g.length, "/", g.block,
                        g.temperature > 0 ? " sampled" : "", *g.cache ? " cache " : "", g.cache);
  const std::vector<int> ids = prompt_ids(length, salt);
  for (int id : ids) s.request.mutable_ids()->add_ids(id);
  s.cli_flags = "--prompt-ids " + absl::StrJoin(ids, ",");
  set_gen(g, &s.request, &s.cli_flags);
  s.weight = weight;
  return s;
}

RequestShape dense_text(const std::string& text, Gen g, int weight) {
  RequestShape s;
  s.name = absl::StrCat("dense text ", text.size(), " chars gen ", g.length, "/", g.block);
  s.request.set_text(text);
  s.cli_flags = "--prompt '" + text + "'";
  set_gen(g, &s.request, &s.cli_flags);
  s.weight = weight;
  return s;
}

// `policy` prefilling | prefilling+focus over `document` with `question`.
RequestShape document(const std::string& question, const std::string& doc, const char* policy,
                      const char* mode, int top_k, Gen g, int weight) {
  RequestShape s;
  s.name = absl::StrCat(policy, " ", mode, " doc ", doc.size(), " chars top-k ", top_k);
  s.request.set_text(question);
  s.request.set_context(doc);
  s.request.set_policy(policy);
  s.request.mutable_prefilling()->set_chunk_size(16);
  s.request.mutable_prefilling()->set_top_k(top_k);
  s.request.mutable_prefilling()->set_chunk_mode(mode);
  s.cli_flags = absl::StrCat("--prompt '", question, "' --context '", doc, "' --policy ", policy,
                             " --chunk-size 16 --top-k ", top_k, " --chunk-mode ", mode);
  if (std::string(policy) == "prefilling+focus") {
    s.request.mutable_focus()->set_kv_budget(32);
    s.request.mutable_focus()->set_kv_block(8);
    s.request.mutable_focus()->set_sinks(4);
    s.cli_flags += " --kv-budget 32 --kv-block 8 --sinks 4";
  }
  set_gen(g, &s.request, &s.cli_flags);
  s.weight = weight;
  s.moves_kv = std::string(mode) == "reuse";
  return s;
}

// Documents of about 4, 10 and 24 chunks of 16 tokens (no single quotes: they go through a shell).
std::string make_document(int sentences, int salt) {
  static const char* kSentences[] = {
      "The red fox lives in the old forest near the river.",
      "Every morning the fox walks to the water and drinks.",
      "The blue bird sings on the tall tree while the sun rises over the hills.",
      "In the village the baker opens his shop and the children run to school.",
      "The secret number of the day is seven hundred and twelve, written on the door of the mill.",
      "A grey cat sleeps on the warm stones of the bridge.",
      "The farmer counts his sheep twice before the rain comes.",
      "Ships leave the harbour at dawn and return when the bell rings at noon.",
  };
  constexpr int kCount = sizeof(kSentences) / sizeof(kSentences[0]);
  std::string doc;
  for (int i = 0; i < sentences; ++i) {
    if (!doc.empty()) doc += ' ';
    doc += kSentences[(i * 3 + salt) % kCount];
  }
  return doc;
}

}  // namespace

std::vector<RequestShape> soak_shapes() {
  std::vector<RequestShape> shapes;
  // Dense, mixed prompt lengths; the long generations (8 and 16 blocks) are the ones most often
  // mid-stream when a decode node dies (the retry resumes after the blocks the client has).
  shapes.push_back(dense_ids(4, 1, {16, 8, 16}, 3));
  shapes.push_back(dense_ids(24, 2, {32, 8, 32}, 3));
  shapes.push_back(dense_ids(96, 3, {32, 16, 16}, 2));
  shapes.push_back(dense_ids(256, 4, {16, 8, 8}, 1));
  shapes.push_back(dense_ids(8, 5, {128, 8, 64}, 2));
  shapes.push_back(dense_ids(32, 8, {64, 8, 64, 0, 0, "dual"}, 2));
  shapes.push_back(dense_ids(12, 6, {32, 8, 32, 0.7, 1234}, 1));
  shapes.push_back(dense_ids(48, 7, {32, 8, 32, 0, 0, "prefix"}, 1));
  shapes.push_back(dense_text("What is the capital of France?", {16, 8, 16}, 2));
  shapes.push_back(dense_text("Tell me a story about a fox and a bird.", {32, 8, 16}, 1));
  // Prefilling-dLLM in reuse mode: the selected chunks' K/V moves to the decode node.
  const std::string short_doc = make_document(3, 0), mid_doc = make_document(8, 1),
                    long_doc = make_document(20, 2);
  shapes.push_back(
      document("What is the secret number?", short_doc, "prefilling", "reuse", 2, {16, 8, 16}, 4));
  shapes.push_back(document("Who drinks?", mid_doc, "prefilling", "reuse", 3, {16, 8, 16}, 4));
  shapes.push_back(
      document("What does the farmer count?", long_doc, "prefilling", "reuse", 4, {64, 8, 64}, 4));
  shapes.push_back(document("Where does the cat sleep?", mid_doc, "prefilling+focus", "reuse", 2,
                            {16, 8, 16}, 2));
  shapes.push_back(
      document("When do ships return?", long_doc, "prefilling", "reprefill", 3, {16, 8, 16}, 2));
  return shapes;
}

const RequestShape& pick_shape(const std::vector<RequestShape>& shapes, double u) {
  int total = 0;
  for (const RequestShape& s : shapes) total += s.weight;
  double at = u * total;
  for (const RequestShape& s : shapes) {
    if (at < s.weight) return s;
    at -= s.weight;
  }
  return shapes.back();
}

std::vector<std::string> reference_answers(const std::vector<RequestShape>& shapes, int parallel) {
  std::vector<std::string> answers(shapes.size());
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < std::max(1, parallel); ++w)
    workers.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < shapes.size();)
        answers[i] = testing_serve::reference_ids(shapes[i].cli_flags);
    });
  for (std::thread& t : workers) t.join();
  return answers;
}

}  // namespace dllm::soak
