// Only the header matters: it makes epoll visible to Swift.
#include "cepoll.h"
