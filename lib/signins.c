#include "signins.h"
