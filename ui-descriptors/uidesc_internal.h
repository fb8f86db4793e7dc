/* uidesc_internal.h - shared only inside ui-descriptors/: the hmd panel
 * layout (hmd_layout.c), computed on plain structs so that it can be reasoned
 * about (and tested through the descriptor) without jansson. */
#ifndef HT_UIDESC_INTERNAL_H
#define HT_UIDESC_INTERNAL_H

#include <stddef.h>

/* Readability rule (docs/ui-descriptors.md, "Text and layout"): sizes of
 * hologram text are visual angles of the em (font size) at the intended
 * viewing distance. Microsoft's HoloLens typography guidance puts the
 * smallest legible text at 0.35-0.40 deg and comfortable reading at
 * 0.45-0.60 deg; a worker reads panels while walking, through safety
 * glasses, on a see-through display over a bright shop floor, so nothing
 * is smaller than 0.5 deg. */
#define UI_MIN_TEXT_DEG 0.5
#define UI_BODY_DEG 0.6
#define UI_TITLE_DEG 0.8
/* The nearest intended viewing distance: an arm's length plus a step back,
 * where HoloLens 2 holograms are comfortable (>= 1 m) and panels can still
 * be reached with a hand ray. Larger machines are viewed from further. */
#define UI_VIEW_DIST_MIN 1.0
/* Vertical field of view of the default viewpoint, and the narrowest
 * aspect ratio it frames the layout for. */
#define UI_VIEW_FOV_DEG 50.0
#define UI_VIEW_ASPECT (4.0 / 3.0)

/* One scene node as the layout sees it: a bounding sphere. */
struct ui_node {
    double pos[3];
    double r;
};

/* One spatial panel. In: node (index, or -1 for the machine panel), rows
 * (widget rows), title_chars and label_chars (longest widget title), in
 * characters. Out: centre (anchor frame), width and height (m), label
 * column width (m). */
struct ui_panel {
    long node;
    size_t rows, title_chars, label_chars;
    double center[3];
    double w, h, label_w;
};

/* Text sizes and metrics of the panels, all in metres except the angles. */
struct ui_typo {
    double dist; /* intended viewing distance */
    double min_deg, body_deg, title_deg;
    double body, title;           /* em heights */
    double row, header, pad, gap; /* panel metrics */
};

/* The default viewpoint: looking along -Z from pos at target. */
struct ui_view {
    double pos[3], target[3];
    double fov_deg, aspect;
};

/* Lay out the panels (in, out as described above) in a plane in front of
 * every node, pairwise apart, clear of the nodes' screen footprints, and
 * fill typo and view. nodes and panels borrowed; no allocation escapes. */
void ui__hmd_layout(const struct ui_node *nodes, size_t nnodes,
                    struct ui_panel *panels, size_t npanels,
                    struct ui_typo *typo, struct ui_view *view);

#endif
