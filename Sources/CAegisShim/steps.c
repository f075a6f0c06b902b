#include "aegis_shim.h"
