// Exact token amounts as text, by string arithmetic on the decimal digits: a uint256 amount has
// up to 78 digits and a JS number keeps about 16, so no amount ever passes through a float.
// The same rules as tracer/amounts.py (whole_units, AssetAmount.display); tested against them.
"use strict";

const tracerAmounts = Object.freeze({
  // `raw` smallest units (a decimal string) as whole units, without trailing zeros.
  wholeUnits(raw, decimals) {
    const match = /^(-?)0*([0-9]+)$/.exec(raw);
    if (!match || !Number.isInteger(decimals) || decimals < 0) {
      throw new Error(`not an amount: ${raw} with ${decimals} decimals`);
    }
    const digits = match[2];
    const sign = match[1] && digits !== "0" ? "-" : "";
    const padded = digits.padStart(decimals + 1, "0");
    const whole = padded.slice(0, padded.length - decimals);
    const fraction = padded.slice(padded.length - decimals).replace(/0+$/, "");
    return fraction ? `${sign}${whole}.${fraction}` : `${sign}${whole}`;
  },

  // Raw units when the token's decimals are unknown (null): never a guessed scale.
  display(raw, decimals) {
    if (decimals === null) return `${tracerAmounts.wholeUnits(raw, 0)} (raw units)`;
    return tracerAmounts.wholeUnits(raw, decimals);
  },
});
