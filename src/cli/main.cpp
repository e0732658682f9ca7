#include <cstdio>
int main() { std::puts("bbb-cluster-proxy " BCP_VERSION); return 0; }
