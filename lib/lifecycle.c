#include "lifecycle.h"
