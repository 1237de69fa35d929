package local

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/ledger"
)

// The embedded equivalent of Hedera Token Service NFTs: a collection is a
// record under k/<num>, its number taken from the same entity counter as
// topics (so IDs never collide, as on Hedera), and each minted NFT is a
// record under n/<num><serial>, signed by the operator like topic chunks.
// A mint writes the NFT, the collection head and the clock in one durable
// Badger transaction.

var _ ledger.NFTLedger = (*Ledger)(nil)

// collection is the stored state of an NFT collection.
//
// Encoding: version 1 ‖ created (8) ‖ last serial (8) ‖ last mint time (8) ‖
// treasury (3 × 8) ‖ supply key (32) ‖ name length (1) ‖ name ‖ symbol
// length (1) ‖ symbol ‖ memo.
type collection struct {
	Created    int64
	LastSerial int64
	LastMint   int64
	Treasury   EntityID
	SupplyKey  ed25519.PublicKey
	Name       string
	Symbol     string
	Memo       string
}

const collectionFixedSize = 1 + 8 + 8 + 8 + 24 + ed25519.PublicKeySize

func (c *collection) encode() []byte {
	b := make([]byte, 0, collectionFixedSize+2+len(c.Name)+len(c.Symbol)+len(c.Memo))
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Created))
	b = binary.BigEndian.AppendUint64(b, uint64(c.LastSerial))
	b = binary.BigEndian.AppendUint64(b, uint64(c.LastMint))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Treasury.Shard))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Treasury.Realm))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Treasury.Num))
	b = append(b, c.SupplyKey...)
	b = append(b, byte(len(c.Name)))
	b = append(b, c.Name...)
	b = append(b, byte(len(c.Symbol)))
	b = append(b, c.Symbol...)
	return append(b, c.Memo...)
}

func decodeCollection(b []byte) (collection, error) {
	bad := fmt.Errorf("%w: token record", ErrCorrupt)
	if len(b) < collectionFixedSize+2 || b[0] != recordVersion {
		return collection{}, bad
	}
	u64 := func(off int) int64 { return int64(binary.BigEndian.Uint64(b[off:])) }
	c := collection{
		Created:    u64(1),
		LastSerial: u64(9),
		LastMint:   u64(17),
		Treasury:   EntityID{u64(25), u64(33), u64(41)},
		SupplyKey:  bytes.Clone(b[49:collectionFixedSize]),
	}
	rest := b[collectionFixedSize:]
	n := int(rest[0])
	if len(rest) < 1+n+1 {
		return collection{}, bad
	}
	c.Name, rest = string(rest[1:1+n]), rest[1+n:]
	n = int(rest[0])
	if len(rest) < 1+n {
		return collection{}, bad
	}
	c.Symbol, c.Memo = string(rest[1:1+n]), string(rest[1+n:])
	return c, nil
}

// nft is one stored NFT.
//
// Encoding: version 1 ‖ minted (8, Unix ns, also the transaction's valid
// start) ‖ payer (3 × 8) ‖ metadata length (1) ‖ metadata ‖ signature (64,
// Ed25519 of the supply key over nftSignedBytes).
type nft struct {
	Serial    int64 // from the key
	Minted    int64
	Payer     EntityID
	Metadata  []byte
	Signature []byte
}

const nftFixedSize = 1 + 8 + 24 + 1

func (n *nft) encode() []byte {
	b := make([]byte, 0, nftFixedSize+len(n.Metadata)+sigSize)
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(n.Minted))
	b = binary.BigEndian.AppendUint64(b, uint64(n.Payer.Shard))
	b = binary.BigEndian.AppendUint64(b, uint64(n.Payer.Realm))
	b = binary.BigEndian.AppendUint64(b, uint64(n.Payer.Num))
	b = append(b, byte(len(n.Metadata)))
	return append(b, n.Metadata...)
}

// decodeNFT parses a stored NFT record. The returned nft aliases b.
func decodeNFT(serial int64, b []byte) (nft, error) {
	if len(b) < nftFixedSize+sigSize || b[0] != recordVersion {
		return nft{}, fmt.Errorf("%w: NFT %d: bad length or version", ErrCorrupt, serial)
	}
	u64 := func(off int) int64 { return int64(binary.BigEndian.Uint64(b[off:])) }
	m := int(b[nftFixedSize-1])
	if m != len(b)-nftFixedSize-sigSize {
		return nft{}, fmt.Errorf("%w: NFT %d: metadata length %d does not match the record", ErrCorrupt, serial, m)
	}
	return nft{
		Serial:    serial,
		Minted:    u64(1),
		Payer:     EntityID{u64(9), u64(17), u64(25)},
		Metadata:  b[nftFixedSize : nftFixedSize+m],
		Signature: b[nftFixedSize+m:],
	}, nil
}

// nftSignedPrefix separates signatures over NFT records from those over
// topic chunks.
const nftSignedPrefix = "gatewayd local ledger nft v1\x00"

func nftSignedBytes(key, unsigned []byte) []byte {
	b := make([]byte, 0, len(nftSignedPrefix)+len(key)+len(unsigned))
	b = append(b, nftSignedPrefix...)
	b = append(b, key...)
	return append(b, unsigned...)
}

func collectionKey(num int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("k/"), uint64(num))
}

func nftPrefix(num int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("n/"), uint64(num))
}

func nftKey(num, serial int64) []byte {
	return binary.BigEndian.AppendUint64(nftPrefix(num), uint64(serial))
}

// tokenNum parses a token ID of this ledger's shard and realm.
func (l *Ledger) tokenNum(tokenID string) (EntityID, error) {
	id, err := ParseEntityID(tokenID)
	if err != nil || id.Shard != l.shard || id.Realm != l.realm || id.Num <= firstTopicNum {
		return EntityID{}, fmt.Errorf("%w: %q", ledger.ErrTokenNotFound, tokenID)
	}
	return id, nil
}

func readCollection(txn *badger.Txn, id EntityID) (collection, error) {
	v, err := getValue(txn, collectionKey(id.Num))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return collection{}, fmt.Errorf("%w: %s", ledger.ErrTokenNotFound, id)
	}
	if err != nil {
		return collection{}, err
	}
	c, err := decodeCollection(v)
	if err != nil {
		return collection{}, fmt.Errorf("token %s: %w", id, err)
	}
	return c, nil
}

// CreateNFTCollection creates an NFT collection whose treasury is the
// operator account and whose supply key is the operator key. Its number
// comes from the entity counter shared with topics.
func (l *Ledger) CreateNFTCollection(ctx context.Context, o ledger.NFTCollectionOptions) (string, ledger.Receipt, error) {
	if err := o.Check(); err != nil {
		return "", ledger.Receipt{}, fmt.Errorf("local ledger: create token: %w", err)
	}
	memo := ledger.MemoFrom(ctx)
	if err := ledger.CheckMemo(memo); err != nil {
		return "", ledger.Receipt{}, fmt.Errorf("local ledger: create token: %w", err)
	}
	if err := l.begin(ctx); err != nil {
		return "", ledger.Receipt{}, fmt.Errorf("local ledger: create token: %w", err)
	}
	defer l.closeMu.RUnlock()
	l.createMu.Lock()
	defer l.createMu.Unlock()
	if err := ctx.Err(); err != nil {
		return "", ledger.Receipt{}, fmt.Errorf("local ledger: create token: %w", err)
	}
	at := l.nextTime(0)
	var (
		id  EntityID
		fee int64
	)
	err := l.db.Update(func(txn *badger.Txn) error {
		num := int64(firstTopicNum)
		v, err := getValue(txn, keyTopics)
		switch {
		case err == nil && len(v) == 8:
			num = int64(binary.BigEndian.Uint64(v))
		case err == nil:
			return fmt.Errorf("%w: entity counter", ErrCorrupt)
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		num++
		id = EntityID{l.shard, l.realm, num}
		c := collection{Created: at, Treasury: l.payer, SupplyKey: l.pub, Name: o.Name, Symbol: o.Symbol, Memo: o.Memo}
		if err := txn.Set(collectionKey(num), c.encode()); err != nil {
			return err
		}
		if fee, err = l.logTx(txn, at, ledger.TxTokenCreate, memo, id.String()); err != nil {
			return err
		}
		if err := txn.Set(keyTopics, binary.BigEndian.AppendUint64(nil, uint64(num))); err != nil {
			return err
		}
		return txn.Set(keyClock, binary.BigEndian.AppendUint64(nil, uint64(at)))
	})
	if err != nil {
		return "", ledger.Receipt{}, fmt.Errorf("local ledger: create token: %w", err)
	}
	l.spent.Add(fee)
	return id.String(), ledger.Receipt{
		ConsensusTime: nanoTime(at),
		TransactionID: txID(l.payer, at),
		FeeTinybars:   fee,
		Chunks:        1,
	}, nil
}

// MintNFT mints the collection's next serial with metadata, held by the
// treasury, in one durable transaction.
func (l *Ledger) MintNFT(ctx context.Context, tokenID string, metadata []byte) (int64, ledger.Receipt, error) {
	if err := ledger.CheckNFTMetadata(metadata); err != nil {
		return 0, ledger.Receipt{}, fmt.Errorf("local ledger: mint: %w", err)
	}
	memo := ledger.MemoFrom(ctx)
	if err := ledger.CheckMemo(memo); err != nil {
		return 0, ledger.Receipt{}, fmt.Errorf("local ledger: mint: %w", err)
	}
	if err := l.begin(ctx); err != nil {
		return 0, ledger.Receipt{}, fmt.Errorf("local ledger: mint: %w", err)
	}
	defer l.closeMu.RUnlock()
	id, err := l.tokenNum(tokenID)
	if err != nil {
		return 0, ledger.Receipt{}, fmt.Errorf("local ledger: mint: %w", err)
	}
	mu := &l.topicMu[uint64(id.Num)%uint64(len(l.topicMu))]
	mu.Lock()
	defer mu.Unlock()
	if err := ctx.Err(); err != nil {
		return 0, ledger.Receipt{}, fmt.Errorf("local ledger: mint: %w", err)
	}
	var (
		serial int64
		rcpt   ledger.Receipt
	)
	err = l.db.Update(func(txn *badger.Txn) error {
		c, err := readCollection(txn, id)
		if err != nil {
			return err
		}
		if !bytes.Equal(c.SupplyKey, l.pub) {
			return fmt.Errorf("%w: the operator key is not the supply key of %s", ledger.ErrRejected, id)
		}
		at := l.nextTime(c.LastMint + 1)
		serial = c.LastSerial + 1
		n := nft{Minted: at, Payer: l.payer, Metadata: metadata}
		key := nftKey(id.Num, serial)
		rec := n.encode()
		rec = append(rec, ed25519.Sign(l.priv, nftSignedBytes(key, rec))...)
		if err := txn.Set(key, rec); err != nil {
			return err
		}
		fee, err := l.logTx(txn, at, ledger.TxTokenMint, memo, tokenID)
		if err != nil {
			return err
		}
		c.LastSerial, c.LastMint = serial, at
		if err := txn.Set(collectionKey(id.Num), c.encode()); err != nil {
			return err
		}
		if err := txn.Set(keyClock, binary.BigEndian.AppendUint64(nil, uint64(at))); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err // not committed
		}
		rcpt = ledger.Receipt{
			ConsensusTime: nanoTime(at),
			TransactionID: txID(l.payer, at),
			FeeTinybars:   fee,
			Chunks:        1,
		}
		return nil
	})
	if err != nil {
		return 0, ledger.Receipt{}, fmt.Errorf("local ledger: mint %s: %w", tokenID, err)
	}
	l.spent.Add(rcpt.FeeTinybars)
	return serial, rcpt, nil
}

// NFT returns a minted NFT, its signature checked. An unknown collection
// or serial is ledger.ErrTokenNotFound.
func (l *Ledger) NFT(ctx context.Context, tokenID string, serial int64) (ledger.NFT, error) {
	if err := l.begin(ctx); err != nil {
		return ledger.NFT{}, fmt.Errorf("local ledger: NFT: %w", err)
	}
	defer l.closeMu.RUnlock()
	id, err := l.tokenNum(tokenID)
	if err != nil {
		return ledger.NFT{}, fmt.Errorf("local ledger: NFT: %w", err)
	}
	var out ledger.NFT
	err = l.db.View(func(txn *badger.Txn) error {
		c, err := readCollection(txn, id)
		if err != nil {
			return err
		}
		key := nftKey(id.Num, serial)
		v, err := getValue(txn, key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%w: %s serial %d", ledger.ErrTokenNotFound, id, serial)
		}
		if err != nil {
			return err
		}
		n, err := decodeNFT(serial, v)
		if err != nil {
			return err
		}
		if !ed25519.Verify(c.SupplyKey, nftSignedBytes(key, v[:len(v)-sigSize]), n.Signature) {
			return fmt.Errorf("%w: bad signature on NFT %d", ErrCorrupt, serial)
		}
		out = ledger.NFT{
			TokenID:       id.String(),
			Serial:        serial,
			Metadata:      bytes.Clone(n.Metadata),
			Owner:         c.Treasury.String(),
			MintedAt:      nanoTime(n.Minted),
			TransactionID: txID(n.Payer, n.Minted),
		}
		return nil
	})
	if err != nil {
		return ledger.NFT{}, fmt.Errorf("local ledger: NFT %s/%d: %w", tokenID, serial, err)
	}
	return out, nil
}

// VerifyToken checks a collection: serials 1… without gaps, strictly
// increasing mint times, every supply-key signature, and the collection
// head (last serial and mint time). A failure wraps ErrCorrupt.
func (l *Ledger) VerifyToken(ctx context.Context, tokenID string) error {
	if err := l.begin(ctx); err != nil {
		return fmt.Errorf("local ledger: verify token: %w", err)
	}
	defer l.closeMu.RUnlock()
	id, err := l.tokenNum(tokenID)
	if err != nil {
		return fmt.Errorf("local ledger: verify token: %w", err)
	}
	err = l.db.View(func(txn *badger.Txn) error {
		c, err := readCollection(txn, id)
		if err != nil {
			return err
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = nftPrefix(id.Num)
		it := txn.NewIterator(opts)
		defer it.Close()
		var expect, last int64 = 1, c.Created
		for it.Rewind(); it.Valid(); it.Next() {
			if expect%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			key := it.Item().KeyCopy(nil)
			serial := int64(binary.BigEndian.Uint64(key[len(key)-8:]))
			if serial != expect {
				return fmt.Errorf("%w: NFT serial %d follows %d", ErrCorrupt, serial, expect-1)
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			n, err := decodeNFT(serial, v)
			if err != nil {
				return err
			}
			if !ed25519.Verify(c.SupplyKey, nftSignedBytes(key, v[:len(v)-sigSize]), n.Signature) {
				return fmt.Errorf("%w: bad signature on NFT %d", ErrCorrupt, serial)
			}
			if n.Minted <= last {
				return fmt.Errorf("%w: mint time of NFT %d does not increase", ErrCorrupt, serial)
			}
			last = n.Minted
			expect++
		}
		if c.LastSerial != expect-1 || (c.LastSerial > 0 && c.LastMint != last) {
			return fmt.Errorf("%w: token head (serial %d) does not match its NFTs (serial %d)", ErrCorrupt, c.LastSerial, expect-1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("local ledger: verify token %s: %w", tokenID, err)
	}
	return nil
}
