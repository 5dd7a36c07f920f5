/* curves.c — curves.svg for `kiln train --out`: the training (and validation) loss and
 * accuracy of every epoch, two small line charts in one self-contained SVG. */
#include "cli.h"

#include <math.h>

enum { CHART_W = 440, CHART_H = 260, PAD = 48, LEFT = 68 };

typedef struct { const char *name, *color; double v[4096]; } series;

/* A tick label that fits LEFT pixels: whole numbers up to 7 digits as they are, else 3
 * significant digits. */
static void tick_label(char *buf, size_t size, double v, double range) {
    if (fabs(v) < 1e-9 * range) v = 0; /* no "-2.8e-17" for zero */
    if (fabs(v) >= 1000 && fabs(v) < 1e7 && range >= 10) snprintf(buf, size, "%.0f", v);
    else snprintf(buf, size, "%.3g", v);
}

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
    bool nonneg = lo >= 0;
    if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
    /* ticks at a round step (1, 2, 2.5 or 5 times a power of ten), about 4 of them */
    double raw = (hi - lo) / 4, mag = pow(10, floor(log10(raw))), step = mag;
    const double nice[] = {1, 2, 2.5, 5, 10};
    for (int k = 0; k < 5; k++)
        if (nice[k] * mag >= raw) { step = nice[k] * mag; break; }
    lo = floor(lo / step) * step;
    hi = ceil(hi / step) * step;
    if (nonneg && lo < 0) lo = 0;
    int ticks = (int)lround((hi - lo) / step);
    int w = CHART_W - LEFT - PAD / 2, hgt = CHART_H - 2 * PAD;
    fprintf(f, "<g transform=\"translate(%d 0)\">\n<text x=\"%d\" y=\"24\" font-size=\"14\">%s</text>\n", x0, LEFT, title);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", LEFT, PAD, w, hgt);
    for (int t = 0; t <= ticks; t++) { /* y ticks */
        double v = lo + step * t;
        int y = PAD + hgt - (int)lround(hgt * (v - lo) / (hi - lo));
        char label[32];
        tick_label(label, sizeof label, v, hi - lo);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"10\">%s</text>\n", LEFT - 4, y + 3, label);
    }
    int every = n <= 10 ? 1 : (n + 9) / 10; /* x ticks: every epoch, or about ten of them */
    for (int e = 0; e < n; e += every) {
        double x = LEFT + (n > 1 ? (double)w * e / (n - 1) : w / 2.0);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#999\"/>\n", x, PAD + hgt, x, PAD + hgt + 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%d</text>\n", x, PAD + hgt + 15, e + 1);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">epoch</text>\n", LEFT + w / 2, CHART_H - 12);
    for (int s = 0; s < 2; s++) {
        if (!vals[s]) continue;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[s]);
        int drawn = 0;
        for (int e = 0; e < n; e++) {
            if (!isfinite(vals[s][e])) continue;
            double x = LEFT + (n > 1 ? (double)w * e / (n - 1) : w / 2.0);
            double y = PAD + hgt - (vals[s][e] - lo) / (hi - lo) * hgt;
            fprintf(f, "%.1f,%.1f ", x, y);
            drawn++;
        }
        fputs("\"/>\n", f);
        if (drawn)
            fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\" fill=\"%s\">%s</text>\n",
                    LEFT + w - 80 * s, PAD - 8, colors[s], names[s]);
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
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", (any_acc ? 2 : 1) * CHART_W, CHART_H);
    const char *names[2] = {"train", "validation"}, *colors[2] = {"#1f77b4", "#ff7f0e"};
    chart(f, 0, "loss", h, (const double *[2]){loss, any_val ? val_loss : NULL}, names, colors);
    if (any_acc) chart(f, CHART_W, "accuracy", h, (const double *[2]){acc, any_val ? val_acc : NULL}, names, colors);
    fputs("</svg>\n", f);
    return !ferror(f);
}
