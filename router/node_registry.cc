#include "router/node_registry.h"

#include <limits>

namespace dllm::router {

using Clock = std::chrono::steady_clock;

bool NodeRegistry::alive_locked(const Node& n, Clock::time_point now) const {
  return !n.failed && now - n.last_seen <= timeout_;
}

void NodeRegistry::take_load_locked(Node* n, const v1::NodeLoad& load) {
  n->info.load = load;
  n->chunk_keys.clear();
  n->chunk_keys.insert(load.chunk_keys().begin(), load.chunk_keys().end());
  n->info.load.clear_chunk_keys();  // kept as a set; snapshots stay small
  n->last_seen = Clock::now();
  n->failed = false;
}

void NodeRegistry::upsert(const v1::RegisterRequest& r) {
  std::lock_guard<std::mutex> lock(mu_);
  Node& n = nodes_[r.node_id()];
  if (n.channel == nullptr || n.info.address != r.address()) n.channel = dialer_.dial(r.address());
  n.info.id = r.node_id();
  n.info.role = r.role();
  n.info.address = r.address();
  take_load_locked(&n, r.load());
}

bool NodeRegistry::heartbeat(const std::string& node_id, const v1::NodeLoad& load) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return false;
  take_load_locked(&it->second, load);
  return true;
}

void NodeRegistry::mark_failed(const std::string& node_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = nodes_.find(node_id); it != nodes_.end()) it->second.failed = true;
}

std::optional<NodeRef> NodeRegistry::place_prefill(std::span<const uint64_t> chunk_keys,
                                                   const std::set<std::string>& exclude,
                                                   int* held_by_chosen) {
  std::lock_guard<std::mutex> lock(mu_);
  const Clock::time_point now = Clock::now();
  Node* best = nullptr;
  int best_held = 0;
  double best_score = -std::numeric_limits<double>::infinity();
  const size_t n_nodes = nodes_.size();
  size_t i = 0;
  for (auto& [id, n] : nodes_) {
    ++i;
    if (n.info.role != v1::NODE_ROLE_PREFILL || !alive_locked(n, now) || exclude.count(id))
      continue;
    int held = 0;
    for (uint64_t k : chunk_keys) held += n.chunk_keys.count(k) ? 1 : 0;
    // Each chunk already held saves one chunk encode; each request ahead costs about one.
    const double load = n.info.outstanding + n.info.load.waiting();
    // Equal scores go round robin so that cold traffic spreads.
    const double tie = static_cast<double>((i + round_robin_) % (n_nodes + 1)) * 1e-6;
    const double score = held - load + tie;
    if (score > best_score) best_score = score, best = &n, best_held = held;
  }
  if (best == nullptr) return std::nullopt;
  if (held_by_chosen != nullptr) *held_by_chosen = best_held;
  ++round_robin_;
  ++best->info.outstanding;
  return NodeRef{best->info.id, best->info.address, best->channel};
}

std::optional<NodeRef> NodeRegistry::place_decode(const std::set<std::string>& exclude) {
  std::lock_guard<std::mutex> lock(mu_);
  const Clock::time_point now = Clock::now();
  Node* best = nullptr;
  double best_score = -std::numeric_limits<double>::infinity();
  const size_t n_nodes = nodes_.size();
  size_t i = 0;
  for (auto& [id, n] : nodes_) {
    ++i;
    if (n.info.role != v1::NODE_ROLE_DECODE || !alive_locked(n, now) || exclude.count(id))
      continue;
    const v1::NodeLoad& l = n.info.load;
    const double free_ratio =
        l.kv_pages_total() > 0
            ? 1.0 - static_cast<double>(l.kv_pages_used()) / static_cast<double>(l.kv_pages_total())
            : 1.0;
    const double tie = static_cast<double>((i + round_robin_) % (n_nodes + 1)) * 1e-6;
    const double score = -static_cast<double>(n.info.outstanding) + 0.5 * free_ratio + tie;
    if (score > best_score) best_score = score, best = &n;
  }
  if (best == nullptr) return std::nullopt;
  ++round_robin_;
  ++best->info.outstanding;
  return NodeRef{best->info.id, best->info.address, best->channel};
}

void NodeRegistry::finish(const std::string& node_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = nodes_.find(node_id); it != nodes_.end() && it->second.info.outstanding > 0)
    --it->second.info.outstanding;
}

std::vector<NodeSnapshot> NodeRegistry::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  const Clock::time_point now = Clock::now();
  std::vector<NodeSnapshot> out;
  for (const auto& [id, n] : nodes_) {
    out.push_back(n.info);
    out.back().alive = alive_locked(n, now);
  }
  return out;
}

int NodeRegistry::live_nodes(v1::NodeRole role) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Clock::time_point now = Clock::now();
  int count = 0;
  for (const auto& [id, n] : nodes_) count += n.info.role == role && alive_locked(n, now);
  return count;
}

}  // namespace dllm::router
