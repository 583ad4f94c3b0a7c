/* SPDX-License-Identifier: MIT */
/** @file lightwire/lightwire.h  Everything a liblightwire user needs. */
#ifndef LIGHTWIRE_H
#define LIGHTWIRE_H

#include <lightwire/error.h>
#include <lightwire/client.h>
#include <lightwire/stats.h>

#define LW_VERSION "0.1.0"

#endif
