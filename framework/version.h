/* version.h — megac's version, written into every checkpoint it saves. */
#ifndef MEGAC_VERSION_H
#define MEGAC_VERSION_H

#define MEGAC_VERSION "0.1.0"

#endif
