// Package openbadges issues 1EdTech Open Badges 3.0 credentials (OpenBadgeCredential, a W3C
// Verifiable Credential of the VCDM 2.0) and handles the image forms a badge travels in.
//
// It does four things, each in its own file:
//
//   - Build turns an issue request (the body of POST /api/v1/badges/issue, design §6.6) into an
//     unsigned OpenBadgeCredential, after checking every field. Signing is done elsewhere
//     (host/vc/dataintegrity or host/vc/vcjwt).
//   - Validate checks a credential against the official OB 3.0 AchievementCredential JSON Schema,
//     embedded in the binary and compiled once; nothing is fetched.
//   - EducationalTemplates lists pre-built achievements (course completion, skill certification,
//     subject mastery) that Template.Apply turns into the achievement of an issue request.
//   - BakePNG/UnbakePNG and BakeSVG/UnbakeSVG embed a credential in a badge image and extract it,
//     as the specification's "Baked Badge" section (§5.3 of OB 3.0, Document Formats) says;
//     DefaultPNG and DefaultSVG give an image to bake into when the issuer supplied none.
//
// Every function is safe for concurrent use. Inputs from outside (request fields, images,
// credentials) are bounded in size; the limits are the Max* constants.
//
// SOURCES.md says where the embedded schema and the test data come from.
package openbadges
