/* hmd_layout.c - where the spatial panels of an hmd descriptor go.
 *
 * The guarantee (checked by tests/unit/test_uidesc.c from the descriptor
 * alone, and measured on rendered frames by tests/e2e): seen from the
 * default viewpoint, no two panels overlap and no model hides a panel.
 *
 * How: every panel lies in one plane facing +Z, in front of the bounding
 * sphere of every node. The default viewpoint looks along -Z at that plane,
 * so the panels are parallel to the image plane: their projections are
 * their own rectangles scaled by one factor, and rectangles that are apart
 * in the plane are apart on the screen (from any distance on that axis).
 * Nothing lies between the eye and the plane, so no model can hide a
 * panel. Panels are also kept off the nodes' footprints on the screen, so
 * they do not hide the machine either; a leader line joins each panel to
 * its node.
 *
 * Placement is greedy and deterministic: the machine panel first (to the
 * left of the machine), then the component panels from left to right, each
 * at the free spot nearest to its preferred one (just above the machine,
 * over its node). Free spots are searched among positions touching the
 * edges of what is already placed, so one always exists (above it all).
 */
#include "uidesc_internal.h"

#include "ht_mem.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct rect {
    double x0, y0, x1, y1;
};

struct cand {
    double x, y, d2;
};

/* Millimetres: stable bytes in the descriptor, and what is checked is what
 * is written. Sizes round up so that text never gets less room. */
static double mm(double v)
{
    return round(v * 1000) / 1000;
}

static double mm_up(double v)
{
    return ceil(v * 1000 - 1e-6) / 1000;
}

/* The height that subtends deg degrees at dist metres. */
static double size_at(double deg, double dist)
{
    return 2 * dist * tan(deg * M_PI / 360);
}

/* At least gap apart, give or take the rounding to millimetres. */
static bool apart(const struct rect *a, const struct rect *b, double gap)
{
    gap -= 1e-6;
    return a->x1 + gap <= b->x0 || b->x1 + gap <= a->x0 ||
           a->y1 + gap <= b->y0 || b->y1 + gap <= a->y0;
}

/* How far a panel is from where it would like to be. Moving up counts
 * double: panels then spread sideways into rows rather than stack into
 * towers, and leader lines do not run behind other panels. */
static double dist2(double dx, double dy)
{
    return dx * dx + 4 * dy * dy;
}

static int cand_cmp(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    if (a->d2 != b->d2)
        return a->d2 < b->d2 ? -1 : 1;
    if (a->y != b->y)
        return a->y < b->y ? -1 : 1;
    return a->x < b->x ? -1 : a->x > b->x;
}

struct order {
    double x;
    size_t i;
};

static int order_cmp(const void *pa, const void *pb)
{
    const struct order *a = pa, *b = pb;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* The metrics of the text at the viewing distance: row heights leave room
 * for controls of at least 1.6 cm and 1 deg (hand and hand-ray targets on
 * HoloLens 2) around one line of body text. */
static void typography(double dist, struct ui_typo *t)
{
    t->dist = dist;
    t->min_deg = UI_MIN_TEXT_DEG;
    t->body_deg = UI_BODY_DEG;
    t->title_deg = UI_TITLE_DEG;
    t->body = mm_up(size_at(UI_BODY_DEG, dist));
    t->title = mm_up(size_at(UI_TITLE_DEG, dist));
    t->row = mm_up(fmax(3.2 * t->body, 0.016 / 0.75));
    t->header = mm_up(2.2 * t->title);
    t->pad = mm_up(0.6 * t->body);
    t->gap = mm_up(0.5 * t->body);
}

/* Panel size from its content: a label column as wide as the longest
 * title (0.62 em per character covers common sans-serif faces, DejaVu Sans
 * among the widest), a value column of ten characters and room for two touch
 * buttons. */
static void panel_size(const struct ui_typo *t, struct ui_panel *p)
{
    size_t lc = p->label_chars < 6 ? 6 : p->label_chars;
    p->label_w = mm_up(lc * 0.62 * t->body);
    double w = 2 * t->pad + p->label_w + 10 * 0.62 * t->body + 6.2 * t->body;
    double tw = 2 * t->pad + p->title_chars * 0.7 * t->title;
    p->w = mm_up(fmax(w, tw));
    size_t rows = p->rows ? p->rows : 1;
    p->h = mm_up(2 * t->pad + t->header + (double)rows * t->row);
}

void ui__hmd_layout(const struct ui_node *nodes, size_t nnodes,
                    struct ui_panel *panels, size_t npanels,
                    struct ui_typo *typo, struct ui_view *view)
{
    double lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
    for (size_t i = 0; i < nnodes; i++)
        for (int k = 0; k < 3; k++) {
            double a = nodes[i].pos[k] - nodes[i].r;
            double b = nodes[i].pos[k] + nodes[i].r;
            lo[k] = i ? fmin(lo[k], a) : a;
            hi[k] = i ? fmax(hi[k], b) : b;
        }
    double cx = mm((lo[0] + hi[0]) / 2), cy = mm((lo[1] + hi[1]) / 2);
    double vt = tan(UI_VIEW_FOV_DEG * M_PI / 360), ht = vt * UI_VIEW_ASPECT;
    /* Far enough to see the whole machine, never nearer than the minimum;
     * in 10 cm steps so the text sizes do not jitter with the model. */
    double dist = fmax(UI_VIEW_DIST_MIN, 1.1 * (hi[0] - lo[0]) / (2 * ht));
    dist = ceil(dist * 10 - 1e-9) / 10;
    typography(dist, typo);
    double zp = mm_up(hi[2] + 0.02);
    double gap = typo->gap;

    /* Keep-out: where a node can appear on the panel plane, seen from the
     * axis (cx, cy) at any distance >= dist: between its true extent and
     * its projection from the nearest eye (projection is monotonic). */
    size_t nrect = 0, cap = nnodes + npanels;
    struct rect *rects = ht_calloc(cap ? cap : 1, sizeof *rects);
    double floor_y = fmin(0, lo[1]);
    for (size_t i = 0; i < nnodes; i++) {
        const struct ui_node *n = &nodes[i];
        double s = dist / (dist + (zp - n->pos[2]) + n->r);
        double x0 = n->pos[0] - n->r, x1 = n->pos[0] + n->r;
        double y0 = n->pos[1] - n->r, y1 = n->pos[1] + n->r;
        struct rect r = {
            fmin(x0, cx + (x0 - cx) * s),
            fmin(y0, cy + (y0 - cy) * s),
            fmax(x1, cx + (x1 - cx) * s),
            fmax(y1, cy + (y1 - cy) * s),
        };
        rects[nrect++] = r;
    }
    size_t nkeep = nrect;
    double top = floor_y, left = cx;
    for (size_t i = 0; i < nkeep; i++) {
        top = fmax(top, rects[i].y1);
        left = fmin(left, rects[i].x0);
    }

    struct order *ord = ht_calloc(npanels ? npanels : 1, sizeof *ord);
    for (size_t i = 0; i < npanels; i++) {
        panel_size(typo, &panels[i]);
        long n = panels[i].node;
        ord[i].i = i;
        ord[i].x = n < 0 || (size_t)n >= nnodes ? -INFINITY : nodes[n].pos[0];
    }
    qsort(ord, npanels, sizeof *ord, order_cmp);

    size_t ccap = 0;
    struct cand *cands = NULL;
    double *xs = NULL, *ys = NULL;
    for (size_t oi = 0; oi < npanels; oi++) {
        struct ui_panel *p = &panels[ord[oi].i];
        double hw = p->w / 2, hh = p->h / 2;
        double px, py;
        if (p->node < 0 || (size_t)p->node >= nnodes) {
            px = left - gap - hw;
            py = fmax(cy, floor_y + hh);
        } else {
            px = nodes[p->node].pos[0];
            py = top + gap + hh;
        }
        size_t nx = 0, ny = 0;
        xs = ht_realloc(xs, (2 * nrect + 1) * sizeof *xs);
        ys = ht_realloc(ys, (2 * nrect + 1) * sizeof *ys);
        xs[nx++] = mm(px);
        ys[ny++] = mm(py);
        for (size_t i = 0; i < nrect; i++) {
            xs[nx++] = mm_up(rects[i].x1 + gap + hw);
            xs[nx++] = mm(rects[i].x0 - gap - hw) - 0.001;
            ys[ny++] = mm_up(rects[i].y1 + gap + hh);
            if (rects[i].y0 - gap - hh >= floor_y + hh)
                ys[ny++] = mm(rects[i].y0 - gap - hh) - 0.001;
        }
        if (nx * ny + 1 > ccap) {
            ccap = nx * ny + 1;
            cands = ht_realloc(cands, ccap * sizeof *cands);
        }
        /* Above everything at the preferred x is always free: nothing
         * further than that needs sorting. */
        double ytop = mm_up(top + gap + hh);
        for (size_t i = 0; i < nrect; i++)
            ytop = fmax(ytop, mm_up(rects[i].y1 + gap + hh));
        double dmax = dist2(mm(px) - px, ytop - py);
        size_t nc = 0;
        for (size_t a = 0; a < nx; a++)
            for (size_t b = 0; b < ny; b++) {
                if (ys[b] - hh < floor_y)
                    continue;
                double d2 = dist2(xs[a] - px, ys[b] - py);
                if (d2 > dmax + 1e-12)
                    continue;
                cands[nc++] = (struct cand){xs[a], ys[b], d2};
            }
        cands[nc++] = (struct cand){mm(px), ytop, dmax};
        qsort(cands, nc, sizeof *cands, cand_cmp);
        struct rect pr = {0, 0, 0, 0};
        bool ok = false;
        for (size_t c = 0; c < nc && !ok; c++) {
            pr = (struct rect){cands[c].x - hw, cands[c].y - hh,
                               cands[c].x + hw, cands[c].y + hh};
            ok = true;
            for (size_t i = 0; i < nrect && ok; i++)
                ok = apart(&pr, &rects[i], gap);
            if (ok) {
                p->center[0] = cands[c].x;
                p->center[1] = cands[c].y;
            }
        }
        /* The last candidate is above everything: always free. */
        assert(ok);
        p->center[2] = zp;
        rects[nrect++] = pr;
    }

    /* The default viewpoint: on the machine's axis, far enough to frame
     * every panel and node at the narrowest aspect, never nearer than the
     * viewing distance. */
    double need = dist;
    for (size_t i = 0; i < nrect; i++) {
        need = fmax(need,
                    fmax(fabs(rects[i].x0 - cx), fabs(rects[i].x1 - cx)) / ht);
        need = fmax(need,
                    fmax(fabs(rects[i].y0 - cy), fabs(rects[i].y1 - cy)) / vt);
    }
    need = ceil(need * 1.05 * 10 - 1e-9) / 10;
    view->target[0] = cx;
    view->target[1] = cy;
    view->target[2] = zp;
    view->pos[0] = cx;
    view->pos[1] = cy;
    view->pos[2] = mm(zp + need);
    view->fov_deg = UI_VIEW_FOV_DEG;
    view->aspect = UI_VIEW_ASPECT;
    free(cands);
    free(xs);
    free(ys);
    free(ord);
    free(rects);
}
