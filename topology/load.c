/* placeholder: being written */
#include "config.h"
extern int loom_placeholder_load;
