// nicsync-tls-footprint: a benchmark program (not a test, not part of nicsync) for the peak RSS
// that the OCI API path's cryptography and TLS cost with one TLS library or another, to decide
// which library that path should use (tests/bench/README.md, "Not met, and why").
//
// It does the work of an instance-principal fetch that depends on the library, in the order
// nicsync does it, and nothing else: loads the CA file; parses the instance's RSA private key
// (PEM) and signs a SHA-256 digest with it (the federation request); generates a 2048-bit RSA
// session key and encodes its public half (DER); opens CONNECTIONS TLS connections to
// 127.0.0.1:PORT, each checking the server's certificate for "localhost", and keeps them all
// open, as nicsync keeps one per request in flight; then sends REQUESTS GET requests round-robin
// over them and reads each answer (Content-Length). Answers are counted by status; the requests
// are not signed, so nicsync-mock-oci-api answers 401 with a short body.
//
// Built three times from this file: with NICSYNC_TLS_OPENSSL (libssl and libcrypto, without
// libcurl), with NICSYNC_TLS_MBEDTLS (Mbed TLS), and with neither: the same program doing no
// cryptography, the baseline each library's cost is measured against.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr const char* kHost = "localhost";  ///< the name the test server's certificate carries

[[maybe_unused]] std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

[[maybe_unused]] int connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

#if defined(NICSYNC_TLS_OPENSSL)

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace {

constexpr const char* kLibrary = "openssl";

class Tls {
 public:
  Tls(const std::string& ca_file, const std::string& key_file) {
    std::string pem = read_file(key_file);
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (key == nullptr) throw std::runtime_error(key_file + ": not a private key");
    std::string data(300, 'x');  // about the length of a signing string
    const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    size_t length = 0;
    std::vector<unsigned char> signature;
    bool signed_ok =
        EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
        EVP_DigestSign(md, nullptr, &length, bytes, data.size()) == 1 &&
        (signature.resize(length), EVP_DigestSign(md, signature.data(), &length, bytes, data.size()) == 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    if (!signed_ok) throw std::runtime_error("signing failed");
    EVP_PKEY* session = EVP_RSA_gen(2048);
    if (session == nullptr) throw std::runtime_error("RSA key generation failed");
    unsigned char* der = nullptr;
    int der_length = i2d_PUBKEY(session, &der);
    OPENSSL_free(der);
    EVP_PKEY_free(session);
    if (der_length <= 0) throw std::runtime_error("public key encoding failed");
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1) {
      throw std::runtime_error(ca_file + ": no CA certificates");
    }
  }

  class Connection {
   public:
    Connection(SSL_CTX* ctx, int port) : ssl_(SSL_new(ctx)) {
      SSL_set_fd(ssl_, connect_loopback(port));
      SSL_set_tlsext_host_name(ssl_, kHost);
      SSL_set1_host(ssl_, kHost);
      if (SSL_connect(ssl_) != 1) throw std::runtime_error("TLS handshake failed");
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() {
      int fd = SSL_get_fd(ssl_);
      SSL_free(ssl_);
      close(fd);
    }
    void write(const std::string& text) {
      if (SSL_write(ssl_, text.data(), static_cast<int>(text.size())) <= 0)
        throw std::runtime_error("write failed");
    }
    int read(char* buffer, int size) { return SSL_read(ssl_, buffer, size); }

   private:
    SSL* ssl_;
  };

  std::unique_ptr<Connection> connect(int port) { return std::make_unique<Connection>(ctx_, port); }

 private:
  SSL_CTX* ctx_ = nullptr;  // lives until the process ends, as nicsync's would for the run
};

}  // namespace

#elif defined(NICSYNC_TLS_MBEDTLS)

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

namespace {

constexpr const char* kLibrary = "mbedtls";

std::string mbedtls_error(const char* what, int code) {
  char text[160];
  mbedtls_strerror(code, text, sizeof text);
  return std::string(what) + ": " + text;
}

class Tls {
 public:
  Tls(const std::string& ca_file, const std::string& key_file) {
    mbedtls_entropy_init(&entropy_);
    mbedtls_ctr_drbg_init(&random_);
    mbedtls_x509_crt_init(&ca_);
    mbedtls_ssl_config_init(&config_);
    if (int e = mbedtls_ctr_drbg_seed(&random_, mbedtls_entropy_func, &entropy_, nullptr, 0)) {
      throw std::runtime_error(mbedtls_error("random generator", e));
    }
    std::string pem = read_file(key_file);
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    if (int e = mbedtls_pk_parse_key(&key, reinterpret_cast<const unsigned char*>(pem.c_str()),
                                     pem.size() + 1, nullptr, 0)) {
      throw std::runtime_error(mbedtls_error(key_file.c_str(), e));
    }
    std::string data(300, 'x');  // about the length of a signing string
    unsigned char digest[32];
    unsigned char signature[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t length = 0;
    mbedtls_sha256_ret(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, 0);
    int e = mbedtls_pk_sign(&key, MBEDTLS_MD_SHA256, digest, sizeof digest, signature, &length,
                            mbedtls_ctr_drbg_random, &random_);
    mbedtls_pk_free(&key);
    if (e != 0) throw std::runtime_error(mbedtls_error("signing", e));
    mbedtls_pk_context session;
    mbedtls_pk_init(&session);
    unsigned char der[1024];
    e = mbedtls_pk_setup(&session, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
    if (e == 0)
      e = mbedtls_rsa_gen_key(mbedtls_pk_rsa(session), mbedtls_ctr_drbg_random, &random_, 2048, 65537);
    if (e == 0 && mbedtls_pk_write_pubkey_der(&session, der, sizeof der) <= 0) e = -1;
    mbedtls_pk_free(&session);
    if (e != 0) throw std::runtime_error(mbedtls_error("RSA key generation", e));
    if (mbedtls_x509_crt_parse_file(&ca_, ca_file.c_str()) < 0) {
      throw std::runtime_error(ca_file + ": no CA certificates");
    }
    mbedtls_ssl_config_defaults(&config_, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_conf_authmode(&config_, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&config_, &ca_, nullptr);
    mbedtls_ssl_conf_rng(&config_, mbedtls_ctr_drbg_random, &random_);
  }

  class Connection {
   public:
    Connection(const mbedtls_ssl_config* config, int port) {
      mbedtls_net_init(&net_);
      mbedtls_ssl_init(&ssl_);
      net_.fd = connect_loopback(port);
      if (int e = mbedtls_ssl_setup(&ssl_, config)) throw std::runtime_error(mbedtls_error("TLS setup", e));
      mbedtls_ssl_set_hostname(&ssl_, kHost);
      mbedtls_ssl_set_bio(&ssl_, &net_, mbedtls_net_send, mbedtls_net_recv, nullptr);
      while (int e = mbedtls_ssl_handshake(&ssl_)) {
        if (e != MBEDTLS_ERR_SSL_WANT_READ && e != MBEDTLS_ERR_SSL_WANT_WRITE) {
          throw std::runtime_error(mbedtls_error("TLS handshake", e));
        }
      }
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() {
      mbedtls_ssl_free(&ssl_);
      mbedtls_net_free(&net_);
    }
    void write(const std::string& text) {
      const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
      for (size_t done = 0; done < text.size();) {
        int n = mbedtls_ssl_write(&ssl_, bytes + done, text.size() - done);
        if (n <= 0) throw std::runtime_error(mbedtls_error("write", n));
        done += static_cast<size_t>(n);
      }
    }
    int read(char* buffer, int size) {
      return mbedtls_ssl_read(&ssl_, reinterpret_cast<unsigned char*>(buffer), static_cast<size_t>(size));
    }

   private:
    mbedtls_net_context net_;
    mbedtls_ssl_context ssl_;
  };

  std::unique_ptr<Connection> connect(int port) { return std::make_unique<Connection>(&config_, port); }

 private:
  // Live until the process ends, as nicsync's would for the run.
  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context random_;
  mbedtls_x509_crt ca_;
  mbedtls_ssl_config config_;
};

}  // namespace

#else

namespace {

constexpr const char* kLibrary = "none";

/// The baseline: no cryptography, no connections.
class Tls {
 public:
  Tls(const std::string&, const std::string&) {}
  struct Connection {
    void write(const std::string&) {}
    int read(char*, int) { return 0; }
  };
  std::unique_ptr<Connection> connect(int) { return nullptr; }
};

}  // namespace

#endif

namespace {

/// Sends one GET and reads its answer: the status code, or 0 when the connection ended first.
int exchange(Tls::Connection& connection, int number) {
  connection.write("GET /20160918/privateIps?vnicId=ocid1.vnic.oc1..bench" + std::to_string(number) +
                   " HTTP/1.1\r\nHost: " + kHost + "\r\n\r\n");
  std::string answer;
  size_t length = std::string::npos;
  char buffer[4096];
  while (length == std::string::npos || answer.size() < length) {
    int n = connection.read(buffer, sizeof buffer);
    if (n <= 0) return 0;
    answer.append(buffer, static_cast<size_t>(n));
    size_t head_end = answer.find("\r\n\r\n");
    if (length == std::string::npos && head_end != std::string::npos) {
      size_t field = answer.find("\r\nContent-Length: ");
      if (field == std::string::npos || field > head_end)
        throw std::runtime_error("an answer without Content-Length");
      length = head_end + 4 + std::strtoul(answer.c_str() + field + 18, nullptr, 10);
    }
  }
  return std::atoi(answer.c_str() + 9);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: nicsync-tls-footprint-" << kLibrary
              << " CA_FILE KEY_FILE PORT CONNECTIONS REQUESTS\n";
    return 2;
  }
  try {
    int port = std::stoi(argv[3]);
    size_t connections = std::stoul(argv[4]);
    int requests = std::stoi(argv[5]);
    Tls tls(argv[1], argv[2]);
    std::vector<std::unique_ptr<Tls::Connection>> open;
    for (size_t i = 0; i < connections; ++i) open.push_back(tls.connect(port));
    std::map<int, int> statuses;
    for (int i = 0; connections > 0 && i < requests; ++i) {
      auto& connection = open[static_cast<size_t>(i) % connections];
      int status = exchange(*connection, i);
      if (status == 0) {  // the server ended the connection (keep-alive limit): a new one
        connection = tls.connect(port);
        status = exchange(*connection, i);
      }
      ++statuses[status];
    }
    std::cout << kLibrary;
    for (auto [status, count] : statuses) std::cout << " " << status << "x" << count;
    std::cout << "\n";
  } catch (const std::exception& e) {
    std::cerr << "nicsync-tls-footprint-" << kLibrary << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
