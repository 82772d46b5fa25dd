#include "detect.h"
