// Tests for the safetensors reader and writer: golden files, round trips, and every kind of
// malformed file the reader must refuse with a message naming the file (and tensor).
#include "common/model/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dllm {
namespace {

namespace fs = std::filesystem;
const std::string kGolden = DLLM_GOLDEN_DIR;
const std::string kLladaFile = kGolden + "/llada-tiny/checkpoint/model.safetensors";

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "dllm_safetensors_XXXXXX").string();
    path_ = mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file with an explicit header length, header text and data area.
std::string raw_file(uint64_t header_len, const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(header_len >> (8 * i));
  return out + header + std::string(data_bytes, '\x11');
}
std::string raw_file(const std::string& header, size_t data_bytes) {
  return raw_file(header.size(), header, data_bytes);
}

// Opens `bytes` written to a temp file; expects failure whose message has every piece.
void expect_open_error(const std::string& bytes, std::initializer_list<const char*> pieces) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  write_bytes(path, bytes);
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> f = SafetensorsFile::open(path);
  ASSERT_FALSE(f.ok());
  const std::string msg(f.status().message());
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  for (const char* p : pieces) EXPECT_NE(msg.find(p), std::string::npos) << msg << " / " << p;
}

TEST(Safetensors, OpensGoldenCheckpoint) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> f = SafetensorsFile::open(kLladaFile);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->path(), kLladaFile);
  EXPECT_EQ((*f)->tensors().size(), 21u);
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  const TensorInfo* wte = (*f)->find("model.transformer.wte.weight");
  ASSERT_NE(wte, nullptr);
  EXPECT_EQ(wte->dtype, TensorDType::kF32);
  EXPECT_EQ(wte->shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(wte->numel(), 512 * 64);
  EXPECT_EQ(wte->nbytes, 512u * 64 * 4);
  EXPECT_EQ((*f)->find("no.such.tensor"), nullptr);
  // Every view must hold the bytes that the header's offsets name in a plain read of the file.
  const std::string bytes = read_bytes(kLladaFile);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, header_len));
  size_t total = 0;
  for (const auto& [name, t] : (*f)->tensors()) {
    const uint64_t begin = header.at(name).at("data_offsets").at(0).get<uint64_t>();
    ASSERT_LE(8 + header_len + begin + t.nbytes, bytes.size());
    EXPECT_EQ(std::memcmp(t.data, bytes.data() + 8 + header_len + begin, t.nbytes), 0) << name;
    total += t.nbytes;
  }
  EXPECT_EQ(total, bytes.size() - 8 - header_len);
}

TEST(Safetensors, WriteReadRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("round.safetensors");
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -8.5f};
  const std::vector<uint16_t> bf16 = {0x3f80, 0xc000, 0x4040};
  const std::vector<int64_t> i64 = {-1, 0, 1LL << 40};
  const std::vector<uint8_t> flags = {1, 0, 1, 1, 0};
  const double scalar = 3.141592653589793;
  const std::vector<TensorToWrite> tensors = {
      {"weights.f32", TensorDType::kF32, {2, 3}, f32.data()},
      {"weights.bf16", TensorDType::kBF16, {3}, bf16.data()},
      {"ids", TensorDType::kI64, {3}, i64.data()},
      {"mask", TensorDType::kBool, {5}, flags.data()},  // odd size: next offset unaligned
      {"scalar", TensorDType::kF64, {}, &scalar},
      {"empty", TensorDType::kI32, {0, 4}, nullptr},
  };
  ASSERT_TRUE(write_safetensors(path, tensors).ok());

  const std::string bytes = read_bytes(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_len + 24 + 6 + 24 + 5 + 8);
  EXPECT_EQ(bytes.substr(8, 31), R"({"__metadata__":{"format":"pt"})");

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  ASSERT_EQ((*f)->tensors().size(), tensors.size());
  for (const TensorToWrite& w : tensors) {
    const TensorInfo* t = (*f)->find(w.name);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_EQ(t->dtype, w.dtype) << w.name;
    EXPECT_EQ(t->shape, w.shape) << w.name;
    EXPECT_EQ(t->nbytes, static_cast<size_t>(t->numel()) * tensor_dtype_size(w.dtype));
    if (t->nbytes > 0) {
      EXPECT_EQ(std::memcmp(t->data, w.data, t->nbytes), 0) << w.name;
    }
  }
  EXPECT_EQ((*f)->find("scalar")->numel(), 1);
  EXPECT_EQ((*f)->find("empty")->numel(), 0);
  // No temp file left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.file("")), fs::directory_iterator()), 1);
}

TEST(Safetensors, RewriteOfGoldenIsByteIdenticalInData) {
  TempDir dir;
  auto golden = SafetensorsFile::open(kLladaFile);
  ASSERT_TRUE(golden.ok());
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, t] : (*golden)->tensors())
    tensors.push_back({name, t.dtype, t.shape, t.data});
  ASSERT_TRUE(write_safetensors(dir.file("copy.safetensors"), tensors).ok());
  auto copy = SafetensorsFile::open(dir.file("copy.safetensors"));
  ASSERT_TRUE(copy.ok()) << copy.status();
  for (const auto& [name, t] : (*golden)->tensors()) {
    const TensorInfo* c = (*copy)->find(name);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->shape, t.shape);
    EXPECT_EQ(std::memcmp(c->data, t.data, t.nbytes), 0) << name;
  }
}

TEST(Safetensors, WriteRejectsBadInput) {
  TempDir dir;
  const float x = 1;
  EXPECT_FALSE(write_safetensors(dir.file("a"), {{"a", TensorDType::kF32, {1}, &x},
                                                 {"a", TensorDType::kF32, {1}, &x}})
                   .ok());
  EXPECT_FALSE(
      write_safetensors(dir.file("b"), {{"__metadata__", TensorDType::kF32, {1}, &x}}).ok());
  EXPECT_FALSE(write_safetensors(dir.file("c"), {{"n", TensorDType::kF32, {-1}, &x}}).ok());
  EXPECT_FALSE(write_safetensors(dir.file("d"), {{"n", TensorDType::kF32, {4}, nullptr}}).ok());
  absl::Status s =
      write_safetensors("/nonexistent/dir/x.safetensors", {{"n", TensorDType::kF32, {1}, &x}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent/dir/x.safetensors"), std::string::npos) << s;
}

TEST(Safetensors, RejectsTruncatedGoldenFile) {
  const std::string golden = read_bytes(kLladaFile);
  uint64_t header_len = 0;
  std::memcpy(&header_len, golden.data(), 8);
  // Cut inside the data area: the last tensor's end now lies past the end of the file.
  expect_open_error(golden.substr(0, golden.size() - 100), {"tensor '", "past the data area"});
  // Cut inside the header.
  expect_open_error(golden.substr(0, 8 + header_len / 2), {"exceeds the file size"});
  // Cut inside the length prefix, and an empty file.
  expect_open_error(golden.substr(0, 5), {"too short"});
  expect_open_error("", {"too short"});
}

TEST(Safetensors, RejectsBadHeaderLength) {
  expect_open_error(raw_file(1000, "{}", 16), {"header length 1000 exceeds the file size"});
  expect_open_error(raw_file(~0ull, "{}", 16), {"exceeds the 100 MB limit"});
  expect_open_error(raw_file(200ull * 1000 * 1000, "{}", 16), {"100 MB"});
}

TEST(Safetensors, RejectsCorruptHeaderJson) {
  expect_open_error(raw_file(R"({"a": {"dtype": "F32", "shape": [1], )", 4),
                    {"header JSON invalid"});
  expect_open_error(raw_file("[1, 2, 3]", 0), {"not an object"});
  expect_open_error(raw_file(std::string("{\"a\"\0}", 6), 0), {"header JSON invalid"});
  expect_open_error(raw_file(R"({"__metadata__": {"format": 1}})", 0), {"__metadata__", "format"});
  expect_open_error(raw_file(R"({"__metadata__": []})", 0), {"__metadata__"});
}

TEST(Safetensors, RejectsBadTensorEntries) {
  expect_open_error(raw_file(R"({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}})", 1),
                    {"tensor 'w'", "unsupported dtype 'Q4'"});
  expect_open_error(raw_file(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4),
                    {"tensor 'w'", "dtype"});
  expect_open_error(
      raw_file(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
      {"tensor 'w'", "shape entry -1"});
  expect_open_error(raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4),
                    {"tensor 'w'", "data_offsets"});
  expect_open_error(
      raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}})", 4),
      {"tensor 'w'", "data_offsets"});
  expect_open_error(raw_file(R"({"w": [1, 2]})", 4), {"tensor 'w'", "not an object"});
  // Deep nesting must neither overflow the stack nor be echoed into the message.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_open_error(
      raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [)" + deep + ", 4]}}", 4),
      {"tensor 'w'", "data_offsets [an array, 4]"});
  // numel overflows 64 bits.
  expect_open_error(
      raw_file(
          R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 4]}})",
          4),
      {"tensor 'w'", "2^64"});
  // numel fits 64 unsigned bits but a partial product passes int64 (TensorInfo::numel());
  // the trailing zero made the tensor empty. Found by tests/fuzz (safetensors_header).
  expect_open_error(
      raw_file(
          R"({"w": {"dtype": "U8", "shape": [4611686018427387904, 3, 0], "data_offsets": [0, 0]}})",
          0),
      {"tensor 'w'", "more than 2^63 elements"});
}

TEST(Safetensors, FromBytesValidatesLikeOpen) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> mapped = SafetensorsFile::open(kLladaFile);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> copy =
      SafetensorsFile::from_bytes("in-memory", read_bytes(kLladaFile));
  ASSERT_TRUE(copy.ok()) << copy.status();
  ASSERT_EQ((*copy)->tensors().size(), (*mapped)->tensors().size());
  for (const auto& [name, t] : (*mapped)->tensors()) {
    const TensorInfo* c = (*copy)->find(name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_EQ(c->shape, t.shape);
    ASSERT_EQ(c->nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(c->data, t.data, t.nbytes), 0) << name;
  }
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> bad =
      SafetensorsFile::from_bytes("short", std::string(5, '\0'));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "short: file is 5 bytes, too short for the 8-byte header length");
}

TEST(Safetensors, RejectsOffsetsOutOfBoundsOrInconsistent) {
  expect_open_error(
      raw_file(R"({"w": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]}})", 16),
      {"tensor 'w'", "[0, 400]", "past the data area of 16 bytes"});
  expect_open_error(
      raw_file(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})", 16),
      {"tensor 'w'", "end before they begin"});
  expect_open_error(
      raw_file(R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}})", 16),
      {"tensor 'w'", "span 8 bytes", "[2, 2]", "needs 16"});
  expect_open_error(
      raw_file(
          R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 18446744073709551615]}})",
          16),
      {"tensor 'w'", "past the data area"});
}

TEST(Safetensors, RejectsOverlappingTensors) {
  expect_open_error(raw_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                 "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
                             24),
                    {"tensor 'b'", "overlap tensor 'a'"});
  // A small tensor inside a large one, listed first.
  expect_open_error(raw_file(R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]},
                                 "z": {"dtype": "U8", "shape": [16], "data_offsets": [0, 16]}})",
                             16),
                    {"overlap"});
  // Empty tensors occupy no bytes and may sit anywhere.
  TempDir dir;
  write_bytes(dir.file("ok"),
              raw_file(R"({"a": {"dtype": "U8", "shape": [16], "data_offsets": [0, 16]},
                           "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}})",
                       16));
  EXPECT_TRUE(SafetensorsFile::open(dir.file("ok")).ok());
}

TEST(Safetensors, MissingFileIsNotFound) {
  auto f = SafetensorsFile::open("/nonexistent/model.safetensors");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("/nonexistent/model.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace dllm
