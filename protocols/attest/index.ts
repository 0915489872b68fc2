/**
 * Attestations: signed proof from a peer that it holds a verified copy of a
 * file, asked for before any local copy is deleted. See SPEC.md.
 */
export * from './constants.js'
export { AttestService, attestService, type AttestComponents, type AttestInit, type AttestHolder, type VerifiedAttestation, AttestRefusedError } from './service.js'
