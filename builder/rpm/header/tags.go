package header

import "fmt"

// Type is the data type of a header entry, as rpm numbers them.
type Type uint32

// The entry types (rpmTagType).
const (
	TypeNull        Type = 0
	TypeChar        Type = 1
	TypeInt8        Type = 2
	TypeInt16       Type = 3
	TypeInt32       Type = 4
	TypeInt64       Type = 5
	TypeString      Type = 6
	TypeBin         Type = 7
	TypeStringArray Type = 8
	TypeI18NString  Type = 9
)

var typeNames = [...]string{"NULL", "CHAR", "INT8", "INT16", "INT32", "INT64", "STRING", "BIN", "STRING_ARRAY", "I18NSTRING"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint32(t))
}

// size is the width of one element, 0 for the NUL-terminated string types.
func (t Type) size() uint32 {
	switch t {
	case TypeChar, TypeInt8, TypeBin:
		return 1
	case TypeInt16:
		return 2
	case TypeInt32:
		return 4
	case TypeInt64:
		return 8
	}
	return 0
}

// Tag identifies a header entry. Signature-header tags reuse numbers of
// main-header tags (1000 is SigSize there and TagName here), so which
// constants apply depends on the header being read.
type Tag uint32

// Region tags: the first entry of a header, marking the bytes a digest or
// signature covers.
const (
	TagHeaderImage      Tag = 61
	TagHeaderSignatures Tag = 62
	TagHeaderImmutable  Tag = 63
	TagHeaderI18NTable  Tag = 100
)

// Main-header tags (rpmtag.h).
const (
	TagName              Tag = 1000
	TagVersion           Tag = 1001
	TagRelease           Tag = 1002
	TagEpoch             Tag = 1003
	TagSummary           Tag = 1004
	TagDescription       Tag = 1005
	TagBuildTime         Tag = 1006
	TagBuildHost         Tag = 1007
	TagInstallTime       Tag = 1008 // rpmdb only: when rpm installed the package
	TagSize              Tag = 1009
	TagLicense           Tag = 1014
	TagPackager          Tag = 1015
	TagGroup             Tag = 1016
	TagURL               Tag = 1020
	TagOS                Tag = 1021
	TagArch              Tag = 1022
	TagPreIn             Tag = 1023
	TagPostIn            Tag = 1024
	TagPreUn             Tag = 1025
	TagPostUn            Tag = 1026
	TagFileSizes         Tag = 1028
	TagFileModes         Tag = 1030
	TagFileRDevs         Tag = 1033
	TagFileMTimes        Tag = 1034
	TagFileDigests       Tag = 1035
	TagFileLinkTos       Tag = 1036
	TagFileFlags         Tag = 1037
	TagFileUserName      Tag = 1039
	TagFileGroupName     Tag = 1040
	TagSourceRPM         Tag = 1044
	TagProvideName       Tag = 1047
	TagRequireFlags      Tag = 1048
	TagRequireName       Tag = 1049
	TagRequireVersion    Tag = 1050
	TagConflictFlags     Tag = 1053
	TagConflictName      Tag = 1054
	TagConflictVersion   Tag = 1055
	TagPreInProg         Tag = 1085
	TagPostInProg        Tag = 1086
	TagPreUnProg         Tag = 1087
	TagPostUnProg        Tag = 1088
	TagObsoleteName      Tag = 1090
	TagFileDevices       Tag = 1095
	TagFileINodes        Tag = 1096
	TagFileLangs         Tag = 1097
	TagProvideFlags      Tag = 1112
	TagProvideVersion    Tag = 1113
	TagObsoleteFlags     Tag = 1114
	TagObsoleteVersion   Tag = 1115
	TagDirIndexes        Tag = 1116
	TagBaseNames         Tag = 1117
	TagDirNames          Tag = 1118
	TagPayloadFormat     Tag = 1124
	TagPayloadCompressor Tag = 1125
	TagPayloadFlags      Tag = 1126
	TagInstallTID        Tag = 1128 // rpmdb only: the install transaction's id, a time
	TagFileCaps          Tag = 5010
	TagFileDigestAlgo    Tag = 5011
	TagRecommendName     Tag = 5046
	TagRecommendVersion  Tag = 5047
	TagRecommendFlags    Tag = 5048
	TagSuggestName       Tag = 5049
	TagSuggestVersion    Tag = 5050
	TagSuggestFlags      Tag = 5051
	TagSupplementName    Tag = 5052
	TagSupplementVersion Tag = 5053
	TagSupplementFlags   Tag = 5054
	TagEnhanceName       Tag = 5055
	TagEnhanceVersion    Tag = 5056
	TagEnhanceFlags      Tag = 5057
	// TagPayloadDigest holds the hex digest of the compressed payload,
	// in the algorithm TagPayloadDigestAlgo names (rpm >= 4.14).
	TagPayloadDigest     Tag = 5092
	TagPayloadDigestAlgo Tag = 5093
	TagPayloadDigestAlt  Tag = 5097 // over the uncompressed payload
	TagPayloadSHA512     Tag = 5121
	TagPayloadSHA3_256   Tag = 5123
)

// Signature-header tags.
const (
	SigDSA             Tag = 267  // DSA signature of the main header
	SigRSA             Tag = 268  // RSA (or any OpenPGP) signature of the main header
	SigSHA1            Tag = 269  // hex SHA-1 of the main header
	SigLongSize        Tag = 270  // 64-bit main header + payload size
	SigLongArchiveSize Tag = 271  // 64-bit uncompressed payload size
	SigSHA256          Tag = 273  // hex SHA-256 of the main header
	SigFileSignatures  Tag = 274  // IMA file signatures, one string per file
	SigOpenPGP         Tag = 278  // base64 OpenPGP signatures of the main header (rpm 6)
	SigSHA3_256        Tag = 279  // hex SHA3-256 of the main header
	SigSize            Tag = 1000 // main header + payload size
	SigPGP             Tag = 1002 // RSA signature of main header + payload
	SigMD5             Tag = 1004 // MD5 of main header + payload
	SigGPG             Tag = 1005 // DSA signature of main header + payload
	SigPayloadSize     Tag = 1007 // uncompressed payload size
	SigReservedSpace   Tag = 1008
)

// Hash algorithm numbers used by TagPayloadDigestAlgo and TagFileDigestAlgo
// (OpenPGP's numbering).
const (
	HashMD5    = 1
	HashSHA1   = 2
	HashSHA256 = 8
	HashSHA384 = 9
	HashSHA512 = 10
	HashSHA224 = 11
)
