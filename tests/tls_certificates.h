// A throwaway PKI for TLS tests, made with the openssl binary in a fresh temporary folder: a CA,
// a server and a client certificate it signed (both for 127.0.0.1 / localhost), a "rogue" client
// certificate from another CA, an encrypted key, and bearer-token files. Header-only.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

namespace dllm::testing {

class TestPki {
 public:
  // nullptr when the openssl binary is missing or fails (the log says why).
  static std::unique_ptr<TestPki> make() {
    char dir_template[] = "/tmp/dllm-tls-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return nullptr;
    auto pki = std::unique_ptr<TestPki>(new TestPki(dir_template));
    const std::string script = pki->file("make.sh");
    std::ofstream(script) << kScript;
    const std::string cmd =
        "bash '" + script + "' '" + pki->dir_ + "' > '" + pki->file("openssl.log") + "' 2>&1";
    if (std::system(cmd.c_str()) != 0) return nullptr;
    std::ofstream(pki->file("token.txt")) << "tok-" << getpid() << "-Zq83xP\n";
    std::ofstream(pki->file("wrong-token.txt")) << "tok-not-the-right-one\n";
    return pki;
  }
  ~TestPki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // A file of the folder: ca.pem, server.pem/.key, client.pem/.key, rogue.pem/.key (signed by
  // rogue-ca.pem), encrypted.key (client.key under a passphrase), token.txt, wrong-token.txt.
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  const std::string& dir() const { return dir_; }
  // token.txt's token (what clients send).
  std::string token() const { return "tok-" + std::to_string(getpid()) + "-Zq83xP"; }
  static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  explicit TestPki(std::string dir) : dir_(std::move(dir)) {}

  static constexpr const char* kScript = R"(set -e
cd "$1"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
ca() {
  openssl req -x509 $ec -keyout "$1.key" -out "$1.pem" -days 2 -subj "/CN=dllm-test-$1" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() {  # name, signing CA
  openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=dllm-test-$1"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" \
    -days 2 -extfile "$1.ext"
}
ca ca
ca rogue-ca
leaf server ca
leaf client ca
leaf rogue rogue-ca
openssl pkey -in client.key -aes256 -passout pass:dllm-test -out encrypted.key
)";

  std::string dir_;
};

}  // namespace dllm::testing
