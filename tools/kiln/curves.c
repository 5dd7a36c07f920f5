/* curves.c — curves.svg for `kiln train --out`: the training (and validation) loss and
 * accuracy of every epoch, two small line charts in one self-contained SVG. */
#include "cli.h"

#include <math.h>

enum { CHART_W = 420, CHART_H = 260, PAD = 48 };

typedef struct { const char *name, *color; double v[4096]; } series;

/* One chart at x0: the given series over epochs 1..n, y from lo to hi. */
static void chart(FILE *f, int x0, const char *title, const kn_history *h, const double *vals[2], const char *names[2],
                  const char *colors[2]) {
    double lo = INFINITY, hi = -INFINITY;
    int n = h->n_epochs;
    for (int s = 0; s < 2; s++)
        for (int e = 0; e < n; e++)
            if (vals[s] && isfinite(vals[s][e])) {
                lo = fmin(lo, vals[s][e]);
                hi = fmax(hi, vals[s][e]);
            }
    if (!isfinite(lo)) return;
    if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
    double pad = (hi - lo) * 0.08;
    lo -= pad;
    hi += pad;
    int w = CHART_W - 2 * PAD, hgt = CHART_H - 2 * PAD;
    fprintf(f, "<g transform=\"translate(%d 0)\">\n<text x=\"%d\" y=\"24\" font-size=\"14\">%s</text>\n", x0, PAD, title);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", PAD, PAD, w, hgt);
    for (int t = 0; t <= 4; t++) { /* y ticks */
        double v = lo + (hi - lo) * t / 4;
        int y = PAD + hgt - hgt * t / 4;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"10\">%.3g</text>\n", PAD - 4, y + 3, v);
    }
    int step = n <= 10 ? 1 : (n + 9) / 10; /* x ticks: every epoch, or about ten of them */
    for (int e = 0; e < n; e += step) {
        double x = PAD + (n > 1 ? (double)w * e / (n - 1) : w / 2.0);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#999\"/>\n", x, PAD + hgt, x, PAD + hgt + 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%d</text>\n", x, PAD + hgt + 15, e + 1);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">epoch</text>\n", PAD + w / 2, CHART_H - 12);
    for (int s = 0; s < 2; s++) {
        if (!vals[s]) continue;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[s]);
        int drawn = 0;
        for (int e = 0; e < n; e++) {
            if (!isfinite(vals[s][e])) continue;
            double x = PAD + (n > 1 ? (double)w * e / (n - 1) : w / 2.0);
            double y = PAD + hgt - (vals[s][e] - lo) / (hi - lo) * hgt;
            fprintf(f, "%.1f,%.1f ", x, y);
            drawn++;
        }
        fputs("\"/>\n", f);
        if (drawn)
            fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"%s\">%s</text>\n", PAD + 8 + 90 * s, PAD + 14,
                    colors[s], names[s]);
    }
    fputs("</g>\n", f);
}

bool cli_write_curves(FILE *f, const void *user) {
    const kn_history *h = user;
    int n = h->n_epochs < 4096 ? h->n_epochs : 4096;
    static double loss[4096], val_loss[4096], acc[4096], val_acc[4096];
    bool any_val = false, any_acc = false;
    for (int e = 0; e < n; e++) {
        loss[e] = h->epochs[e].loss;
        val_loss[e] = h->epochs[e].val_loss;
        acc[e] = h->epochs[e].accuracy;
        val_acc[e] = h->epochs[e].val_accuracy;
        any_val |= isfinite(val_loss[e]);
        any_acc |= isfinite(acc[e]);
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", 2 * CHART_W, CHART_H);
    const char *names[2] = {"train", "validation"}, *colors[2] = {"#1f77b4", "#ff7f0e"};
    chart(f, 0, "loss", h, (const double *[2]){loss, any_val ? val_loss : NULL}, names, colors);
    if (any_acc) chart(f, CHART_W, "accuracy", h, (const double *[2]){acc, any_val ? val_acc : NULL}, names, colors);
    fputs("</svg>\n", f);
    return !ferror(f);
}
