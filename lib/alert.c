#include "alert.h"
